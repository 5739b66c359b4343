#!/usr/bin/env python3
"""A small OTLP/HTTP receiver for ringtel's integration tests.

Decodes POST /v1/logs and /v1/traces with the official `opentelemetry-proto`
package (gunzipping when Content-Encoding: gzip) and appends one JSON line per
decoded log record or span to --out, plus one "request" line per POST:

  {"signal": "request", "path": "/v1/logs", "status": 200, "content_encoding": "gzip",
   "content_type": "application/x-protobuf", "bytes": 123, "headers": {...}}
  {"signal": "log", "resource": {...}, "scope": {...}, "time_unix_nano": ..., "severity_number": 9,
   "severity_text": "INFO", "body": "...", "event_name": "...", "attributes": {...},
   "trace_id": "<hex>", "span_id": "<hex>", "flags": 1}
  {"signal": "span", "resource": {...}, "scope": {...}, "name": "...", "kind": 1, "trace_id": "<hex>",
   "span_id": "<hex>", "parent_span_id": "<hex>", "start_time_unix_nano": ..., "end_time_unix_nano": ...,
   "attributes": {...}, "status": {"code": 2, "message": "..."}}

A request line is written after the records it carried, so once a reader sees
it, all of that request's records are in the file.

Answers 200 with an empty Export*ServiceResponse, or the status given by
--status; POST /control/status with a decimal body changes that status while
running. Listens on 127.0.0.1:--port.

Requires: pip install opentelemetry-proto
"""

import argparse
import gzip
import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

SIGNALS = {
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
}


def any_value(value):
    """An AnyValue as plain JSON."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(key_values):
    return {kv.key: any_value(kv.value) for kv in key_values}


def scope(s):
    return {"name": s.name, "version": s.version, "attributes": attributes(s.attributes)}


def log_lines(request):
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                yield {
                    "signal": "log",
                    "resource": resource,
                    "scope": scope(scope_logs.scope),
                    "time_unix_nano": record.time_unix_nano,
                    "observed_time_unix_nano": record.observed_time_unix_nano,
                    "severity_number": record.severity_number,
                    "severity_text": record.severity_text,
                    "body": any_value(record.body),
                    "event_name": record.event_name,
                    "attributes": attributes(record.attributes),
                    "trace_id": record.trace_id.hex(),
                    "span_id": record.span_id.hex(),
                    "flags": record.flags,
                }


def span_lines(request):
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "signal": "span",
                    "resource": resource,
                    "scope": scope(scope_spans.scope),
                    "name": span.name,
                    "kind": span.kind,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "start_time_unix_nano": span.start_time_unix_nano,
                    "end_time_unix_nano": span.end_time_unix_nano,
                    "attributes": attributes(span.attributes),
                    "status": {"code": span.status.code, "message": span.status.message},
                    "flags": span.flags,
                }


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as OTLP exporters expect

    # Set in main(); shared by the handler threads.
    out_path = None
    status = 200
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        sys.stderr.write("otlp_receiver: " + (format % args) + "\n")

    def answer(self, status, body=b"", content_type="application/x-protobuf"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def write(self, lines):
        with Receiver.lock, open(Receiver.out_path, "a", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line, sort_keys=True) + "\n")
            out.flush()

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path == "/control/status":
            Receiver.status = int(raw.decode().strip())
            self.answer(200, b"ok\n", "text/plain")
            return
        if self.path not in SIGNALS:
            self.answer(404, b"unknown path\n", "text/plain")
            return
        encoding = self.headers.get("Content-Encoding", "")
        request_line = {
            "signal": "request",
            "path": self.path,
            "status": Receiver.status,
            "content_encoding": encoding,
            "content_type": self.headers.get("Content-Type", ""),
            "bytes": len(raw),
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }
        if Receiver.status != 200:
            self.write([request_line])
            self.answer(Receiver.status, b"", "text/plain")
            return
        request_type, response_type = SIGNALS[self.path]
        try:
            body = gzip.decompress(raw) if encoding == "gzip" else raw
            request = request_type.FromString(body)
        except Exception as e:  # a bad body is the client's fault: 400, and say why
            request_line["status"] = 400
            request_line["error"] = repr(e)
            self.write([request_line])
            self.answer(400, repr(e).encode(), "text/plain")
            return
        lines = log_lines(request) if self.path == "/v1/logs" else span_lines(request)
        self.write(list(lines) + [request_line])
        self.answer(200, response_type().SerializeToString())


OPENSSL_CONFIG = """[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = 127.0.0.1
[leaf]
basicConstraints = critical,CA:FALSE
subjectAltName = IP:127.0.0.1
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
"""


def self_signed_certificate(directory):
    """A P-256 key and a self-signed leaf certificate for 127.0.0.1 (not a
    CA, so a client can trust it directly as its only root)."""
    os.makedirs(directory, exist_ok=True)
    config = os.path.join(directory, "openssl.cnf")
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    with open(config, "w", encoding="utf-8") as f:
        f.write(OPENSSL_CONFIG)
    subprocess.run(
        ["openssl", "req", "-x509", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2"],
        check=True, capture_output=True,
    )
    return cert, key


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 to listen on")
    parser.add_argument("--out", required=True, help="file to append decoded records to (JSON lines)")
    parser.add_argument("--status", type=int, default=200, help="HTTP status to answer with (default 200)")
    parser.add_argument(
        "--tls-dir",
        help="serve https with a fresh self-signed certificate for 127.0.0.1, written to TLS_DIR/cert.pem "
        "(made with the openssl command)",
    )
    args = parser.parse_args()
    Receiver.out_path = args.out
    Receiver.status = args.status
    open(args.out, "a", encoding="utf-8").close()
    context = None
    if args.tls_dir:
        # Before the socket listens: a client that can connect finds TLS.
        cert, key = self_signed_certificate(args.tls_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver, bind_and_activate=False)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.server_bind()
    server.server_activate()
    sys.stderr.write(f"otlp_receiver: listening on 127.0.0.1:{args.port}, writing {args.out}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
