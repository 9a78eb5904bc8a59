from server.protocols.http import NotFound


def handle(request):
    if request.subpath == "/missing":
        raise NotFound("no such pot")
    return 418, [("X-Tea", "earl grey")], b"short and stout\n"
