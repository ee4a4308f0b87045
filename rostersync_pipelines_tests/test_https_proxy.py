"""The fake internet: a real subprocess, honouring HTTPS_PROXY and REQUESTS_CA_BUNDLE, reaches WSGI fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from rostersync_pipelines_tests.fakes.https_proxy import FakeInternet


def echo(name: str):
    """A WSGI app that says who it is and what it received."""

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        answer = {
            "app": name,
            "method": environ["REQUEST_METHOD"],
            "path": environ["PATH_INFO"],
            "query": environ["QUERY_STRING"],
            "host": environ.get("HTTP_HOST"),
            "scheme": environ["wsgi.url_scheme"],
            "body": body.decode(),
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    return app


def run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_a_subprocess_reaches_the_fake_through_the_proxy():
    with FakeInternet({"acme.example.com": echo("acme")}) as net:
        done = run("import requests; print(requests.get('https://acme.example.com/x?y=1').text)", net.env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer == {
        "app": "acme",
        "method": "GET",
        "path": "/x",
        "query": "y=1",
        "host": "acme.example.com",
        "scheme": "https",
        "body": "",
    }
    assert net.requests == {"acme.example.com": 1}


def test_two_hosts_keep_alive_chunked_bodies_and_plain_http():
    code = """
import json, requests
s = requests.Session()
out = [s.get('https://a.example.com/one').json(), s.post('https://b.example.com/two', json={'k': 1}).json(),
       s.post('https://a.example.com/three', data=iter([b'ab', b'cd'])).json(),
       s.get('https://a.example.com/four').json(), s.get('http://b.example.com/five?q=2').json()]
print(json.dumps(out))
"""
    with FakeInternet({"a.example.com": echo("a"), "b.example.com": echo("b")}) as net:
        done = run(code, net.env)
    assert done.returncode == 0, done.stderr
    one, two, three, four, plain = json.loads(done.stdout)
    assert (one["app"], two["app"], three["app"], four["app"]) == ("a", "b", "a", "a")
    assert json.loads(two["body"]) == {"k": 1}
    assert three["body"] == "abcd"  # sent chunked by requests (an iterator has no length)
    assert (plain["app"], plain["scheme"], plain["path"], plain["query"]) == ("b", "http", "/five", "q=2")
    assert net.requests == {"a.example.com": 3, "b.example.com": 2}
    assert [entry[2] for entry in net.log] == ["/one", "/two", "/three", "/four", "/five?q=2"]


def test_an_unknown_host_gets_502_and_an_untrusted_client_fails(monkeypatch):
    with FakeInternet({"a.example.com": echo("a")}) as net:
        for name, value in net.env.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(requests.exceptions.ProxyError, match="502"):
            requests.get("https://elsewhere.example.com/", timeout=10)
        # without the CA the certificate is refused: the proxy cannot pass for the real host
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
        with pytest.raises(requests.exceptions.SSLError):
            requests.get("https://a.example.com/", timeout=10)
        assert net.requests["a.example.com"] == 0
