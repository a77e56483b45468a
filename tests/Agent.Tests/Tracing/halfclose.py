#!/usr/bin/env python3
"""One close_wait that keeps writing, for TraceLiveTests: tcp_info's bound on its age stays small.

  halfclose.py PORT

Listens on 127.0.0.1:PORT, connects to it, and prints "connected PID". On the first line of
standard input the client shuts its side down (its FIN: the server's socket goes to close_wait)
and the script prints "fin". The server never closes but writes a byte every 0.3 s, which the
client (in fin_wait2) reads and acknowledges, so the server's tcpi_last_ack_recv, the kernel's
bound on the time since the FIN, stays under half a second. On end of input both close and it exits.
"""
import os
import socket
import sys
import threading
import time


def main():
    port = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(("127.0.0.1", port))
    conn, _ = listener.accept()
    print("connected", os.getpid(), flush=True)
    sys.stdin.readline()
    client.shutdown(socket.SHUT_WR)
    assert conn.recv(1) == b""  # the FIN is in: the server's side is in close_wait
    print("fin", flush=True)
    done = threading.Event()

    def talk():
        while not done.wait(0.3):
            conn.send(b"x")
            client.recv(16)

    talker = threading.Thread(target=talk)
    talker.start()
    sys.stdin.read()
    done.set()
    talker.join()
    conn.close()
    client.close()
    listener.close()


if __name__ == "__main__":
    main()
