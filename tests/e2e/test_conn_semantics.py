#!/usr/bin/python3
"""
Response and request semantics on bridge's own front ends (HTTP and raw
FastCGI), each test named after the symptom it guards against:

 - HEAD and 304 answered with a Content-Length and no body are complete
   (RFC 9110 9.3.2, 15.4.5): the connection stays up, a pipelined or
   multiplexed request behind them is answered;
 - a 204 carries no Content-Length (RFC 9110 8.6); the app's own Date is
   the only Date;
 - a FastCGI CONTENT_LENGTH that is not a length, or does not fit, is a
   400 instead of an overflow;
 - a cut FastCGI response does not take down requests multiplexed with it;
 - an absolute-form target's authority is the Host (RFC 9112 3.2.2);
 - --mount matches the path with dot-segments resolved (RFC 3986 5.2.4).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
import http_harness as hh                                       # noqa: E402

USER = ["--user", "nobody"]
APP_DATE = "Mon, 01 Jan 2001 00:00:00 GMT"


class HttpSemanticsTest(unittest.TestCase):
    def setUp(self):
        self.b = hh.HttpBridge(self, extra=USER)

    def no_cut_logged(self):
        self.assertNotIn("; cut", self.b.log())

    def test_head_with_length_keeps_pipelined_request(self):
        with self.b.connect() as c:
            c.send(b"HEAD /lenonly?17 HTTP/1.1\r\nHost: t\r\n\r\n"
                   + hh.get_request("/status?202"))
            r = c.read_response(head=True)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), "17")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (202, b"status 202\n"))
        self.no_cut_logged()

    def test_304_with_length_keeps_connection(self):
        with self.b.connect() as c:
            r = c.request("/notmodified")
            self.assertEqual(r.status, 304)
            self.assertEqual(r.header("ETag"), '"v1"')
            self.assertEqual(c.request("/status?201").status, 201)
        self.no_cut_logged()

    def test_204_does_not_carry_app_content_length(self):
        with self.b.connect() as c:
            r = c.request("/status?204")
            self.assertEqual(r.status, 204)
            self.assertEqual(r.header_all("Content-Length"), [])
            self.assertEqual(c.request("/status?201").status, 201)

    def test_app_date_not_doubled(self):
        with self.b.connect() as c:
            r = c.request("/date")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header_all("Date"), [APP_DATE])
            self.assertEqual(r.body, b"date\n")
            r = c.request("/status?200")
            dates = r.header_all("Date")
            self.assertEqual(len(dates), 1, dates)
            self.assertNotEqual(dates[0], APP_DATE)

    def test_absolute_form_host_seen_by_app_is_targets(self):
        with self.b.connect() as c:
            c.send(b"GET http://b.example:8080/env?x=1 HTTP/1.1\r\n"
                   b"Host: a.example\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r.body)
        env = h.parse_env(r.body)
        self.assertEqual(env["HTTP_HOST"], "b.example:8080")
        self.assertEqual(env["SERVER_NAME"], "b.example")
        self.assertEqual(env["REQUEST_URI"], "/env?x=1")
        names = [l.split("=", 1)[0] for l in r.body.decode().splitlines()]
        self.assertEqual(names.count("HTTP_HOST"), 1)


class FlaskHeadTest(unittest.TestCase):
    """The issue's own case: Flask answers HEAD with the GET's
    Content-Length and no body."""

    def setUp(self):
        import importlib.util
        if importlib.util.find_spec("flask") is None:
            self.skipTest("python3-flask not installed")
        import test_wsgi as w
        self.b = w.WsgiBridge(self, "main:app", extra=USER,
                              pythonpath=os.path.join(w.EXAMPLES, "flask"))

    def test_flask_head_keeps_pipelined_request(self):
        with self.b.connect() as c:
            c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
                   b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response(head=True)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), "11")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"hello world"))
        self.assertNotIn("; cut", self.b.log())


class MountDotSegmentsTest(unittest.TestCase):
    def setUp(self):
        self.b = hh.HttpBridge(self, extra=USER + ["--mount", "/app"])

    def get(self, target):
        with self.b.connect() as c:
            c.send(hh.get_request(target, extra=b"X-Probe-Env: 1\r\n"))
            return c.read_response()

    def test_dot_segments_do_not_escape_mount(self):
        for target in ("/app/../other", "/app/%2e%2e/other",
                       "/app/sub/../../other", "/app/.%2E/app2/env"):
            with self.subTest(target=target):
                r = self.get(target)
                self.assertEqual(r.status, 404, r.body)
        r = self.get("/app/../../etc/passwd")
        self.assertEqual(r.status, 400, r.body)

    def test_dot_segments_inside_mount_resolved(self):
        for target, info in (("/app/sub/../env", "/env"),
                             ("/app/./x/./y", "/x/y"),
                             ("/app/x/..", "/"),
                             ("/other/../app/env?q=1", "/env")):
            with self.subTest(target=target):
                r = self.get(target)
                self.assertEqual(r.status, 200, r.body)
                env = h.parse_env(r.body)
                self.assertEqual(env["SCRIPT_NAME"], "/app")
                self.assertEqual(env["PATH_INFO"], info)
                # the request line is passed as sent
                self.assertEqual(env["REQUEST_URI"], target)


class FcgiSemanticsTest(unittest.TestCase):
    def setUp(self):
        self.b = h.Bridge(self, extra=USER)

    def test_head_with_length_ends_request_and_keeps_others(self):
        with self.b.connect() as c:
            # request 2 is on its way (PARAMS not ended) when 1 is done
            two = h.request_bytes(rid=2, path="/status?203",
                                  flags=h.FCGI_KEEP_CONN)
            cut = two.index(h.fcgi_record(h.FCGI_PARAMS, 2))
            c.send(two[:cut])
            c.send(h.request_bytes(rid=1, path="/lenonly?17", method="HEAD",
                                   flags=h.FCGI_KEEP_CONN))
            r = c.read_response(1)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["content-length"], "17")
            self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
            c.send(two[cut:])
            self.assertEqual(c.read_response(2).status, 203)
            r = c.request(rid=3, path="/notmodified",
                          flags=h.FCGI_KEEP_CONN)
            self.assertEqual((r.status, r.end[1]),
                             (304, h.FCGI_REQUEST_COMPLETE))
        self.assertNotIn("; cut", self.b.log())

    def test_cut_response_keeps_multiplexed_request(self):
        """/cut (Content-Length 100, 10 bytes) gets no END_REQUEST, but
        request 2 multiplexed with it is answered before the close."""
        with self.b.connect() as c:
            two = h.request_bytes(rid=2, path="/status?203",
                                  flags=h.FCGI_KEEP_CONN)
            cut = two.index(h.fcgi_record(h.FCGI_PARAMS, 2))
            c.send(two[:cut])
            c.send(h.request_bytes(rid=1, path="/cut",
                                   flags=h.FCGI_KEEP_CONN))
            self.b.wait_log(r"sent 10 of its Content-Length 100; cut")
            # a new request on this connection is turned away
            c.send(h.request_bytes(rid=3, path="/", flags=h.FCGI_KEEP_CONN))
            c.send(two[cut:])
            r = c.read_response(2)
            self.assertEqual(r.status, 203)
            self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
            r3 = c.read_response(3)
            self.assertEqual(r3.end[1], h.FCGI_OVERLOADED)
            rest = c.drain_until_closed()
            recs, _ = h.split_records(rest)
            left = c.pending + recs
            self.assertFalse([x for x in left
                              if x.type == h.FCGI_END_REQUEST],
                             "the cut request was ended as complete")
            body = b"".join(x.content for x in left
                            if x.id == 1 and x.type == h.FCGI_STDOUT)
            self.assertTrue(body.endswith(b"0123456789"), body)

    def fcgi_status(self, value):
        with self.b.connect() as c:
            r = c.request(path="/env", params=h.request_params(
                "/env", extra=[("CONTENT_LENGTH", value)]))
            return r.status

    def test_content_length_overflow_refused(self):
        for value in ("9223372036854775808", "99999999999999999999",
                      "1" * 40, "12abc", "-1", " 5"):
            with self.subTest(value=value):
                self.assertEqual(self.fcgi_status(value), 400)
        self.b.wait_log(r"CONTENT_LENGTH 9223372036854775808 is too large")
        self.b.wait_log(r"CONTENT_LENGTH 12abc is not a number")
        for value in ("", "0", "9223372036854775807"):
            with self.subTest(value=value):
                self.assertEqual(self.fcgi_status(value), 200)


if __name__ == "__main__":
    h.main()
