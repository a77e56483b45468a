#!/usr/bin/env python3
"""A TCP workload with known numbers, for the tracer's exact counts (TraceLiveTests, bench/trace.sh).

  workload.py server PORT HOLD_SECONDS     listens on 127.0.0.1:PORT, prints "ready PID", serves
  workload.py client PORT CLOSED_PORT N M K L J

Each client connection sends one command byte and the server acts on it:
  c  client-closed: the client closes first; the server reads end-of-file, then closes (N)
  s  server-closed: the server closes first; the client reads end-of-file, then closes (M)
  r  server-aborted: the server closes with SO_LINGER 0 (a reset); the client reads ECONNRESET (L)
  h  held: the client closes first; the server keeps its close_wait HOLD_SECONDS, then closes (J,
     all at once)
and K connects go to CLOSED_PORT, where nothing listens (refused). The client sends "x" last (one
more server-closed connection): the server closes it and its listener, and exits. The client prints "done PID" when all is over.
"""
import os
import socket
import struct
import sys
import threading
import time


def server(port, hold):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    print("ready", os.getpid(), flush=True)
    threads = []
    while True:
        conn, _ = listener.accept()
        command = conn.recv(1)
        if command == b"x":
            conn.close()
            break
        t = threading.Thread(target=serve, args=(conn, command, hold))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    listener.close()


def serve(conn, command, hold):
    if command == b"s":
        conn.close()
        return
    if command == b"r":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        return
    while conn.recv(64):
        pass  # until the client's FIN: close_wait from here
    if command == b"h":
        time.sleep(hold)
    conn.close()


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", port))
    return s


def client(port, closed_port, n, m, k, l, j):
    for _ in range(n):
        s = connect(port)
        s.sendall(b"c")
        s.close()
    for _ in range(m):
        s = connect(port)
        s.sendall(b"s")
        while s.recv(64):
            pass
        s.close()
    for _ in range(k):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", closed_port))
        except ConnectionRefusedError:
            pass
        s.close()
    for _ in range(l):
        s = connect(port)
        s.sendall(b"r")
        try:
            while s.recv(64):
                pass
        except ConnectionResetError:
            pass
        s.close()
    held = [connect(port) for _ in range(j)]
    for s in held:
        s.sendall(b"h")
    for s in held:
        s.close()
    s = connect(port)
    s.sendall(b"x")
    while s.recv(64):
        pass  # the server closes first: one more server-closed connection
    s.close()
    print("done", os.getpid(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), float(sys.argv[3]))
    else:
        client(*[int(a) for a in sys.argv[2:9]])
