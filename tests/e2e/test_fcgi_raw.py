#!/usr/bin/python3
"""
bridge's FastCGI front end driven by a raw client, record by record.

Section numbers are those of the FastCGI Specification 1.0.  The app is
tests/apps/probe.c; every test starts its own bridge on a fresh loopback
port and stops it with TERM, asserting a clean exit.
"""
import os
import signal
import stat
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h                                             # noqa: E402
from harness import (FCGI_KEEP_CONN, fcgi_record, fcgi_stream,  # noqa: E402
                     fcgi_pairs, request_bytes, request_params, begin_body)

KEEP = FCGI_KEEP_CONN


class Basics(unittest.TestCase):
    def setUp(self):
        self.b = h.Bridge(self)

    def test_simple_request(self):
        with self.b.connect() as c:
            r = c.request(path="/env?x=1")
        self.assertEqual(r.end, (0, h.FCGI_REQUEST_COMPLETE))
        self.assertEqual(r.status, 200)
        env = r.env()
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["QUERY_STRING"], "x=1")
        self.assertEqual(env["HTTP_HOST"], "localhost")

    def test_params_order_preserved(self):
        # With a PATH_INFO the web server's split is kept as sent (a
        # split that says nothing is redone: test_deploy_split.py).
        extra = [("PATH_INFO", "/p")] + [("HTTP_X_%d" % i, "v%d" % i)
                                         for i in range(40)]
        with self.b.connect() as c:
            r = c.request(path="/env", extra=extra)
        names = [l.split("=", 1)[0] for l in r.body.decode().splitlines()]
        sent = [k for k, _ in request_params("/env", extra=extra)]
        self.assertEqual(names, sent)

    def test_split_at_every_byte_boundary(self):
        """Two pipelined requests (GET /env, POST /echo) split in two at
        every offset of the stream give the same answers (section 3.3:
        record boundaries are not read boundaries)."""
        body = b"The quick brown fox jumps\x00\xff over\r\n"
        stream = (request_bytes(1, "/env?q=split", flags=KEEP)
                  + request_bytes(2, "/echo", method="POST", body=body,
                                  flags=KEEP))
        with self.b.connect() as c:
            c.send(stream)
            want1 = c.read_response(1).body
            want2 = c.read_response(2).body
            self.assertEqual(want2, body)
            self.assertIn(b"QUERY_STRING=q=split\n", want1)
            for k in range(1, len(stream)):
                c.send_at(stream, [k], delay=0.002)
                r1 = c.read_response(1)
                r2 = c.read_response(2)
                self.assertEqual((r1.body, r2.body), (want1, want2),
                                 "split at byte %d" % k)

    def test_one_byte_at_a_time(self):
        body = b"0123456789" * 5
        stream = request_bytes(1, "/echo", method="POST", body=body,
                               params_chunk=7, stdin_chunk=3)
        with self.b.connect() as c:
            c.send_split(stream, 1, delay=0.001)
            r = c.read_response(1)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body)

    def test_padding_and_full_records(self):
        """Content of 65535 bytes and padding of 255 (section 3.3)."""
        big = "v" * 60000
        body = bytes(range(256)) * 1024          # 256 KiB
        params = request_params("/echo", "POST", body,
                                extra=[("HTTP_X_BIG", big)])
        pdata = fcgi_pairs(params)
        self.assertLessEqual(len(pdata), 0xffff)
        stream = (fcgi_record(h.FCGI_BEGIN_REQUEST, 7, begin_body(
                      flags=KEEP), 255, pad_byte=b"\xff")
                  + fcgi_record(h.FCGI_PARAMS, 7, pdata, 255,
                                pad_byte=b"\xff")
                  + fcgi_record(h.FCGI_PARAMS, 7, b"", 255)
                  + b"".join(fcgi_record(h.FCGI_STDIN, 7,
                                         body[i:i + 0xffff], 255,
                                         pad_byte=b"\x01")
                             for i in range(0, len(body), 0xffff))
                  + fcgi_record(h.FCGI_STDIN, 7, b"", 255))
        with self.b.connect() as c:
            c.send(stream)
            r = c.read_response(7)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body)
            r = c.request(7, path="/env", extra=[("HTTP_X_BIG", big)])
            self.assertEqual(r.env()["HTTP_X_BIG"], big)

    def test_stdin_without_content_length(self):
        body = b"no length given\n" * 100
        with self.b.connect() as c:
            r = c.request(path="/echo", method="POST", body=body,
                          content_length=False)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body)

    def test_keep_conn_two_requests(self):
        with self.b.connect() as c:
            r1 = c.request(1, path="/env?n=1", flags=KEEP)
            r2 = c.request(1, path="/env?n=2", flags=KEEP)
            self.assertFalse(c.is_closed(0.2))
        self.assertEqual(r1.env()["QUERY_STRING"], "n=1")
        self.assertEqual(r2.env()["QUERY_STRING"], "n=2")

    def test_unread_body_does_not_desync(self):
        """/env never reads its body; the next request on the connection
        must not see it."""
        with self.b.connect() as c:
            r1 = c.request(1, path="/env", method="POST",
                           body=b"\x01\x05\x00\x01junk" * 5000, flags=KEEP)
            r2 = c.request(1, path="/echo", method="POST", body=b"second",
                           flags=KEEP)
        self.assertEqual(r1.status, 200)
        self.assertEqual(r2.body, b"second")

    def test_without_keep_conn_closes_after_end_request(self):
        with self.b.connect() as c:
            r = c.request(1, path="/env")
            self.assertEqual(r.end, (0, 0))
            self.assertTrue(c.is_closed(5), "connection left open")

    def test_request_id_ffff(self):
        with self.b.connect() as c:
            r = c.request(0xffff, path="/echo", method="POST", body=b"id")
        self.assertEqual(r.body, b"id")

    def test_get_values_default(self):
        with self.b.connect() as c:
            v = c.get_values(["FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                              "FCGI_MPXS_CONNS", "FCGI_NO_SUCH_THING"])
            # the connection goes on serving requests afterwards
            r = c.request(1, path="/env")
        self.assertEqual(set(v), {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                  "FCGI_MPXS_CONNS"})
        self.assertEqual(v["FCGI_MPXS_CONNS"], "1")
        # default --max-conns, within the open-file limit bridge raises
        # to its hard limit (less 64 kept back), times 1 worker
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        want = 16384 if hard == resource.RLIM_INFINITY else \
            min(16384, max(16, hard - 64))
        self.assertEqual(int(v["FCGI_MAX_CONNS"]), want)
        self.assertGreaterEqual(int(v["FCGI_MAX_REQS"]),
                                int(v["FCGI_MAX_CONNS"]))
        self.assertEqual(r.status, 200)

    def test_unknown_management_type(self):
        """Section 4.2: FCGI_UNKNOWN_TYPE naming the type."""
        with self.b.connect() as c:
            for t in (12, 200, 255):
                c.send(fcgi_record(t, 0, b"abc"))
                rec = c.read_record()
                self.assertEqual((rec.type, rec.id),
                                 (h.FCGI_UNKNOWN_TYPE, 0))
                self.assertEqual(rec.content[0], t)
                self.assertEqual(len(rec.content), 8)
            r = c.request(1, path="/env")
            self.assertEqual(r.status, 200)

    def test_abort_before_stdin_ends(self):
        """Section 5.4: ABORT_REQUEST ends the request with END_REQUEST;
        the kept connection serves the next one."""
        with self.b.connect() as c:
            c.send(fcgi_record(h.FCGI_BEGIN_REQUEST, 3, begin_body(
                flags=KEEP))
                + fcgi_stream(h.FCGI_PARAMS, 3, fcgi_pairs(
                    request_params("/echo", "POST", b"x" * 100)))
                + fcgi_record(h.FCGI_STDIN, 3, b"x" * 10))
            time.sleep(0.05)
            c.send(fcgi_record(h.FCGI_ABORT_REQUEST, 3))
            r = c.read_response(3)
            # Ended by bridge as a completed request (section 5.5).
            self.assertEqual(r.end[1], h.FCGI_REQUEST_COMPLETE)
            self.assertEqual(r.stdout, b"")
            # late STDIN of the aborted id is ignored (section 3.3)
            c.send(fcgi_record(h.FCGI_STDIN, 3, b"late"))
            r = c.request(3, path="/echo", method="POST", body=b"after",
                          flags=KEEP)
            self.assertEqual(r.body, b"after")

    def test_authorizer_role_refused_connection_usable(self):
        with self.b.connect() as c:
            c.send(request_bytes(5, "/env", role=h.FCGI_AUTHORIZER,
                                 flags=KEEP))
            r = c.read_response(5)
            self.assertEqual(r.end[1], h.FCGI_UNKNOWN_ROLE)
            self.assertEqual(r.stdout, b"")
            c.send(request_bytes(6, "/env", role=h.FCGI_FILTER, flags=KEEP))
            self.assertEqual(c.read_response(6).end[1], h.FCGI_UNKNOWN_ROLE)
            r = c.request(5, path="/echo", method="POST", body=b"ok",
                          flags=KEEP)
            self.assertEqual(r.body, b"ok")

    def test_multiplexed_interleaved(self):
        a, b = b"A" * 70000, b"B" * 30000
        p1 = fcgi_pairs(request_params("/echo", "POST", a))
        p2 = fcgi_pairs(request_params("/echo", "POST", b,
                                       extra={"HTTP_X": "2"}))
        with self.b.connect() as c:
            c.send(fcgi_record(h.FCGI_BEGIN_REQUEST, 1, begin_body(
                flags=KEEP))
                + fcgi_record(h.FCGI_BEGIN_REQUEST, 2, begin_body(
                    flags=KEEP))
                + fcgi_record(h.FCGI_PARAMS, 2, p2[:10])
                + fcgi_record(h.FCGI_PARAMS, 1, p1[:20])
                + fcgi_record(h.FCGI_PARAMS, 2, p2[10:])
                + fcgi_record(h.FCGI_PARAMS, 1, p1[20:])
                + fcgi_record(h.FCGI_PARAMS, 2, b"")
                + fcgi_record(h.FCGI_PARAMS, 1, b"")
                + fcgi_record(h.FCGI_STDIN, 1, a[:40000])
                + fcgi_record(h.FCGI_STDIN, 2, b[:100])
                + fcgi_record(h.FCGI_STDIN, 1, a[40000:])
                + fcgi_record(h.FCGI_STDIN, 2, b[100:])
                + fcgi_record(h.FCGI_STDIN, 2, b"")
                + fcgi_record(h.FCGI_STDIN, 1, b""))
            r2 = c.read_response(2)
            r1 = c.read_response(1)
            r3 = c.request(3, path="/env", flags=KEEP)
        self.assertEqual(r1.body, a)
        self.assertEqual(r2.body, b)
        self.assertEqual(r3.status, 200)

    def test_pipelined_after_big_response(self):
        """A request queued behind a response larger than bridge's output
        high-water mark is still answered once the output drains."""
        with self.b.connect(timeout=20) as c:
            c.send(request_bytes(1, "/big?3000000", flags=KEEP)
                   + request_bytes(2, "/echo", method="POST", body=b"2nd",
                                   flags=KEEP))
            time.sleep(0.3)     # let bridge block on a full socket
            r1 = c.read_response(1)
            r2 = c.read_response(2)
        self.assertEqual(len(r1.body), 3000000)
        self.assertEqual(r2.body, b"2nd")

    def test_httpoxy_param_dropped(self):
        with self.b.connect() as c:
            r = c.request(path="/env", extra={"HTTP_PROXY": "http://evil:1",
                                              "HTTP_X_OK": "1"})
        env = r.env()
        self.assertNotIn("HTTP_PROXY", env)
        self.assertEqual(env["HTTP_X_OK"], "1")


    def test_http_content_length_and_type_params_dropped(self):
        """nginx sends Content-Length and Content-Type twice: as
        CONTENT_LENGTH/CONTENT_TYPE (fastcgi_params) and, like every
        header, as HTTP_CONTENT_LENGTH/HTTP_CONTENT_TYPE.  RFC 3875
        section 4.1.18: the server SHOULD remove header fields available
        in other variables; CGI mode never has them (see test_parity), so
        the FastCGI front end must not either."""
        body = b"k=v"
        with self.b.connect() as c:
            r = c.request(path="/env", method="POST", body=body, extra=[
                ("HTTP_CONTENT_LENGTH", "3"),
                ("HTTP_CONTENT_TYPE", "application/x-www-form-urlencoded")])
        env = r.env()
        self.assertEqual(env["CONTENT_LENGTH"], "3")
        self.assertNotIn("HTTP_CONTENT_LENGTH", env)
        self.assertNotIn("HTTP_CONTENT_TYPE", env)


    def test_unknown_role_without_keep_conn_closes(self):
        """Section 5.1: with FCGI_KEEP_CONN clear "the application closes
        the connection after responding to this request" -- the
        FCGI_UNKNOWN_ROLE END_REQUEST is that response.  Left open, every
        such connection lingers until --idle-timeout."""
        with self.b.connect() as c:
            c.send(request_bytes(5, "/env", role=h.FCGI_AUTHORIZER))
            r = c.read_response(5)
            self.assertEqual(r.end[1], h.FCGI_UNKNOWN_ROLE)
            self.assertTrue(c.is_closed(3), "connection left open after "
                            "END_REQUEST without FCGI_KEEP_CONN")


class Lifecycle(unittest.TestCase):
    def test_term_finishes_request_in_flight(self):
        b = h.Bridge(self)
        with b.connect() as c:
            c.send(request_bytes(1, "/sleep?700", flags=KEEP))
            time.sleep(0.2)
            b.proc.send_signal(signal.SIGTERM)
            r = c.read_response(1)
            self.assertEqual((r.status, r.body), (200, b"slept\n"))
            self.assertTrue(c.is_closed(5))
        b.stop()
        b.wait_log(r"TERM: stopping gracefully")

    def test_term_closes_idle_keep_conn(self):
        b = h.Bridge(self)
        with b.connect() as c:
            c.request(1, path="/env", flags=KEEP)
            t0 = time.monotonic()
            b.proc.send_signal(signal.SIGTERM)
            self.assertTrue(c.is_closed(5))
            b.stop()
            self.assertLess(time.monotonic() - t0, 5)

    def test_unix_socket_mode_and_cleanup(self):
        b = h.Bridge(self, unix=True, extra=["--socket-mode", "0660"])
        self.assertEqual(stat.S_IMODE(os.stat(b.addr).st_mode), 0o660)
        self.assertTrue(stat.S_ISSOCK(os.stat(b.addr).st_mode))
        with b.connect() as c:
            self.assertEqual(c.request(1, path="/echo", method="POST",
                                       body=b"u").body, b"u")
        b.stop()
        self.assertFalse(os.path.exists(b.addr))

    def test_idle_timeout_closes_quietly(self):
        b = h.Bridge(self, extra=["--idle-timeout", "1"])
        with b.connect() as c:
            c.request(1, path="/env", flags=KEEP)
            self.assertTrue(c.is_closed(5))
        self.assertNotIn("connection closed", b.log())


class Limits(unittest.TestCase):
    def test_get_values_no_mpx(self):
        b = h.Bridge(self, workers=2, extra=["--fastcgi-max-reqs", "1",
                                             "--max-conns", "10"])
        with b.connect() as c:
            v = c.get_values(["FCGI_MPXS_CONNS", "FCGI_MAX_CONNS",
                              "FCGI_MAX_REQS"])
        self.assertEqual(v["FCGI_MPXS_CONNS"], "0")
        self.assertEqual(v["FCGI_MAX_CONNS"], "20")
        self.assertEqual(v["FCGI_MAX_REQS"], "20")

    def test_cant_mpx_conn(self):
        b = h.Bridge(self, extra=["--fastcgi-max-reqs", "1"])
        with b.connect() as c:
            c.send(fcgi_record(h.FCGI_BEGIN_REQUEST, 1, begin_body(
                flags=KEEP))
                + fcgi_record(h.FCGI_PARAMS, 1, fcgi_pairs(
                    request_params("/echo", "POST", b"one"))))
            c.send(request_bytes(2, "/env", flags=KEEP))
            r2 = c.read_response(2)
            self.assertEqual(r2.end[1], h.FCGI_CANT_MPX_CONN)
            self.assertEqual(r2.stdout, b"")
            c.send(fcgi_record(h.FCGI_PARAMS, 1, b"")
                   + fcgi_stream(h.FCGI_STDIN, 1, b"one"))
            r1 = c.read_response(1)
            self.assertEqual(r1.body, b"one")
            r = c.request(2, path="/echo", method="POST", body=b"two",
                          flags=KEEP)
            self.assertEqual(r.body, b"two")

    def test_params_bytes_431(self):
        b = h.Bridge(self, extra=["--max-params-bytes", "1k"])
        with b.connect() as c:
            r = c.request(1, path="/env", flags=KEEP,
                          extra={"HTTP_X_BIG": "y" * 2000})
            self.assertEqual(r.status, 431)
            self.assertEqual(r.end, (0, 0))
            # split over many records, total over the limit
            r = c.request(1, path="/env", flags=KEEP, params_chunk=100,
                          extra=[("HTTP_X_%d" % i, "z" * 60)
                                 for i in range(30)])
            self.assertEqual(r.status, 431)
            r = c.request(1, path="/echo", method="POST", body=b"fine",
                          flags=KEEP)
            self.assertEqual(r.body, b"fine")
        b.wait_log(r"PARAMS over 1024 bytes: 431")

    def test_params_count_431(self):
        b = h.Bridge(self, extra=["--max-params", "16"])
        with b.connect() as c:
            r = c.request(1, path="/env", flags=KEEP,
                          extra=[("HTTP_X_%d" % i, "1") for i in range(20)])
            self.assertEqual(r.status, 431)
            r = c.request(1, path="/echo", method="POST", body=b"fine",
                          flags=KEEP)
            self.assertEqual(r.body, b"fine")
        b.wait_log(r"more than 16 PARAMS: 431")

    def test_body_413(self):
        b = h.Bridge(self, extra=["--max-body", "4k"])
        with b.connect() as c:
            r = c.request(1, path="/echo", method="POST", body=b"b" * 10000,
                          flags=KEEP)
            self.assertEqual(r.status, 413)
            r = c.request(1, path="/echo", method="POST", body=b"b" * 4096,
                          flags=KEEP)
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), 4096)

    def test_read_timeout_incomplete_request(self):
        b = h.Bridge(self, extra=["--read-timeout", "1"])
        with b.connect() as c:
            c.send(request_bytes(1, "/env")[:30])
            t0 = time.monotonic()
            self.assertTrue(c.is_closed(5))
            self.assertLess(time.monotonic() - t0, 4)
        b.wait_log(r"read timeout")


class Malformed(unittest.TestCase):
    """Section 3.3 faults close that connection, are logged, and disturb
    no other connection."""

    def setUp(self):
        self.b = h.Bridge(self)

    def fault(self, data, log_rx, prefix=b""):
        with self.b.connect() as other:
            # another connection, mid-request while the fault happens
            other.send(request_bytes(1, "/echo", method="POST",
                                     body=b"other", flags=KEEP)[:40])
            with self.b.connect() as c:
                c.send(prefix + data)
                out = c.drain_until_closed(5)
            recs, rest = h.split_records(out)
            self.assertFalse([r for r in recs
                              if r.type == h.FCGI_END_REQUEST and r.id == 9],
                             "the faulty request was answered")
            other.send(request_bytes(1, "/echo", method="POST",
                                     body=b"other", flags=KEEP)[40:])
            self.assertEqual(other.read_response(1).body, b"other")
            self.assertEqual(other.request(2, path="/echo", method="POST",
                                           body=b"again", flags=KEEP).body,
                             b"again")
        self.b.wait_log(log_rx)
        self.b.wait_log(r"connection closed")

    def test_bad_version(self):
        self.fault(fcgi_record(h.FCGI_BEGIN_REQUEST, 9, begin_body(),
                               version=2), r"version 2")

    def test_bad_version_mid_stream(self):
        good = request_bytes(9, "/env", flags=KEEP)
        self.fault(good[:20] + b"\x00" * 30, r"version 0")

    def test_begin_request_wrong_length(self):
        self.fault(fcgi_record(h.FCGI_BEGIN_REQUEST, 9, b"\x00\x01\x00"),
                   r"BEGIN_REQUEST of 3 bytes, 8 expected")

    def test_stdout_sent_to_app(self):
        self.fault(fcgi_record(h.FCGI_STDOUT, 9, b"hello"),
                   r"STDOUT record sent to the application")

    def test_duplicate_begin(self):
        self.fault(fcgi_record(h.FCGI_BEGIN_REQUEST, 9, begin_body(
            flags=KEEP)) * 2, r"BEGIN_REQUEST for active request 9")

    def test_params_after_params_end(self):
        self.fault(fcgi_record(h.FCGI_BEGIN_REQUEST, 9, begin_body(
            flags=KEEP))
            + fcgi_record(h.FCGI_PARAMS, 9, fcgi_pairs({"A": "1"}))
            + fcgi_record(h.FCGI_PARAMS, 9, b"")
            + fcgi_record(h.FCGI_PARAMS, 9, fcgi_pairs({"B": "2"})),
            r"PARAMS after the end of request 9")

    def test_malformed_pair(self):
        # a name length that runs past the end of the PARAMS stream
        self.fault(fcgi_record(h.FCGI_BEGIN_REQUEST, 9, begin_body())
                   + fcgi_record(h.FCGI_PARAMS, 9, b"\x7f\x01AB")
                   + fcgi_record(h.FCGI_PARAMS, 9, b""),
                   r"malformed name-value pair")


class AppBehaviour(unittest.TestCase):
    def setUp(self):
        self.b = h.Bridge(self)

    def get(self, path, keep=True):
        with self.b.connect() as c:
            return c.request(1, path=path, flags=KEEP if keep else 0)

    def test_fail_500(self):
        self.assertEqual(self.get("/fail").status, 500)

    def test_nostart_502(self):
        self.assertEqual(self.get("/nostart").status, 502)

    def test_badheader_500_and_logged(self):
        r = self.get("/badheader")
        self.assertEqual(r.status, 500)
        self.assertNotIn(b"Injected", r.stdout)
        self.b.wait_log(r"X-Bad has CR, LF")

    def test_replace_503(self):
        r = self.get("/replace")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.body, b"replaced\n")

    def test_twice_refused(self):
        r = self.get("/twice")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"second refused\n")

    def test_cut_closes_without_end_request(self):
        with self.b.connect() as c:
            c.send(request_bytes(1, "/cut", flags=KEEP))
            out = c.drain_until_closed(5)
        recs, rest = h.split_records(out)
        self.assertEqual(rest, b"")
        self.assertFalse([r for r in recs if r.type == h.FCGI_END_REQUEST])
        stdout = b"".join(r.content for r in recs if r.type == h.FCGI_STDOUT)
        self.assertTrue(stdout.endswith(b"\r\n\r\n0123456789"), stdout)

    def test_big_exact(self):
        with self.b.connect(timeout=30) as c:
            r = c.request(1, path="/big?3000000", flags=KEEP)
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), 3000000)
            self.assertEqual(r.body.count(b"x"), 3000000)
            self.assertEqual(c.request(1, path="/echo", method="POST",
                                       body=b"next", flags=KEEP).body,
                             b"next")

    def test_log_through_gateway(self):
        self.assertEqual(self.get("/log").body, b"logged\n")
        self.b.wait_log(r"warn \[\d+\] \[req [0-9a-f]+-[0-9a-f]+\] "
                        r"probe log line 42")

    def test_crash_respawn(self):
        # let the worker outlive the master's quick-death window
        time.sleep(1.1)
        with self.b.connect() as c:
            c.send(request_bytes(1, "/crash", flags=KEEP))
            out = c.drain_until_closed(5)
        self.assertFalse([r for r in h.split_records(out)[0]
                          if r.type == h.FCGI_END_REQUEST])
        self.b.wait_log(r"worker 0 \(pid \d+\) killed by signal 11")
        t0 = time.monotonic()
        while True:
            try:
                with self.b.connect(timeout=2) as c:
                    r = c.request(1, path="/echo", method="POST",
                                  body=b"alive")
                break
            except (OSError, h.ConnectionClosed):
                if time.monotonic() - t0 > 2:
                    raise
                time.sleep(0.05)
        self.assertEqual(r.body, b"alive")
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_concurrent_connections_one_worker(self):
        """Many connections at once on one worker all get answers."""
        results = []

        def one(i):
            with self.b.connect() as c:
                body = ("conn %d" % i).encode()
                results.append(c.request(1, path="/echo", method="POST",
                                         body=body).body == body)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(15)
        self.assertEqual(results, [True] * 20)


if __name__ == "__main__":
    h.main()
