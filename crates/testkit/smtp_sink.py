"""A real SMTP server on loopback for the alert tests and benchmark: every
mail accepted is written to a folder, one file per mail (the envelope's
recipients on the first line, then the message as received), and named on
standard output ("accepted NAME") the moment it is accepted.

Usage: python3 smtp_sink.py PORT FOLDER
Runs until it is killed; prints "ready" once it accepts connections.
"""

import os
import sys
import time
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%s.eml" % (time.time_ns(), uuid.uuid4().hex[:8])
        tmp = os.path.join(self.folder, "." + name)
        with open(tmp, "wb") as f:
            f.write(("To: " + ",".join(envelope.rcpt_tos) + "\n").encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.folder, name))
        print("accepted " + name, flush=True)
        return "250 OK"


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
