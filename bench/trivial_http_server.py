"""A minimal HTTP/1.1 endpoint that answers every request at once with a fixed prediction.

    python bench/trivial_http_server.py [--port 0]    # prints the port, then serves until killed

It stands in for a model server that is never the bottleneck: the load client's own
capacity is measured against it (bench/client_capacity.py), and the test that drives the
client past its capacity uses it (tests/client). Keep-alive, Content-Length bodies, many
connections; plain asyncio and no dependencies, so it runs in any Python as a child process.
"""

import argparse
import asyncio
import socket

BODY = b'{"predictions": [[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]}'
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(RESPONSE)


async def serve(port: int) -> None:
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = await asyncio.get_running_loop().create_server(Answer, sock=sock, backlog=4096)
    print(sock.getsockname()[1], flush=True)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on the first line)")
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
