from server.protocols.http import Response


def handle(request):
    return Response(f"hello {request.subpath} {request.args.get('name', '')}".strip() + "\n")
