"""The seed's Flask application, served by bridge instead of Gunicorn:

    bridge --http :8000 --wsgi main:app -w 4

Besides the seed's hello world it has a JSON route, a form POST, a file
upload, links built by url_for, a redirect and static/ (Flask's static
route, sent through wsgi.file_wrapper), which the end-to-end tests
(tests/e2e/test_wsgi_flask.py, test_deploy_*.py) drive over HTTP and
behind nginx, Apache and HAProxy.
"""
import hashlib

from flask import Flask, jsonify, redirect, request, url_for

app = Flask(__name__)


@app.route('/')
def index():
    return 'hello world'


@app.route('/json')
def json_route():
    return jsonify(message='hello', items=[1, 2, 3],
                   query=request.args.get('q', ''))


@app.route('/links')
def links():
    # url_for prefixes SCRIPT_NAME: where the app is mounted.
    return jsonify(json=url_for('json_route'),
                   static=url_for('static', filename='hello.txt'),
                   external=url_for('index', _external=True))


@app.route('/go')
def go():
    return redirect(url_for('json_route', q='redirected'))


@app.route('/form', methods=['POST'])
def form():
    name = request.form.get('name', '')
    return 'hello %s (%d fields)' % (name, len(request.form))


@app.route('/upload', methods=['POST'])
def upload():
    f = request.files.get('file')
    if f is None:
        return 'no file', 400
    data = f.read()
    return jsonify(filename=f.filename, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest())
