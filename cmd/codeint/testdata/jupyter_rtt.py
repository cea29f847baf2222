"""Times print(1) round trips through a warm Jupyter kernel.

Usage: jupyter_rtt.py N
Starts an ipykernel with jupyter_client, warms it up, then runs
`execute_interactive("print(1)")` N times and prints one round trip per
line, in microseconds: the figure codeint's context benchmark is held
against.
"""
import sys
import time

from jupyter_client.manager import start_new_kernel


def main():
    n = int(sys.argv[1])
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        out = []
        for _ in range(20):  # warm-up
            kc.execute_interactive("print(1)", output_hook=out.append, timeout=30)
        for _ in range(n):
            seen = []
            begin = time.perf_counter()
            reply = kc.execute_interactive("print(1)", output_hook=seen.append, timeout=30)
            took = time.perf_counter() - begin
            if reply["content"]["status"] != "ok":
                raise SystemExit("kernel error: %r" % (reply["content"],))
            text = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
            if text != "1\n":
                raise SystemExit("no '1' on stdout: %r" % (seen,))
            print(int(took * 1e6), flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
