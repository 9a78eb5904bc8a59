def handle(request):
    raise RuntimeError("handler-secret-marker")
