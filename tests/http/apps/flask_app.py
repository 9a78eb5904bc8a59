"""A real Flask app, served unchanged with --app flask_app:app."""

import hashlib

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/flask/hello")
def hello():
    return "hello from flask"


@app.post("/flask/echo")
def echo():
    data = request.get_data()
    return jsonify(
        length=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        json=request.get_json(silent=True),
        args=request.args.to_dict(),
    )


@app.post("/flask/form")
def form():
    upload = request.files["upload"].read()
    return jsonify(name=request.form["name"], sha256=hashlib.sha256(upload).hexdigest())


@app.get("/flask/stream")
def stream():
    return Response((f"line {i}\n" for i in range(200)), mimetype="text/plain")


@app.get("/flask/remote")
def remote():
    return jsonify(remote=request.remote_addr, scheme=request.scheme, path=request.path)


@app.get("/flask/boom")
def boom():
    raise RuntimeError("flask-secret-marker")
