#!/usr/bin/env python3
# fakeqmp.py SOCKET MODE: a QMP server that misbehaves as MODE says, for
# test_qmp_hotplug.sh.  One client at a time, until killed.
#   silent    accepts and says nothing
#   garbage   greets with a line that is not JSON
#   notqmp    greets with a JSON object that is not a QMP greeting
#   long      greets with 2 MiB without a newline
#   wrongid   answers qmp_capabilities with another id
#   qemu      a QEMU that accepts getfd (keeping the fd), device_add (the fd
#             name consumed), lists the device in query-pci (vendor:device from
#             argv 3 and 4) and, on device_del, closes the fd and sends
#             DEVICE_DELETED after some noise events
#   keepfd    as qemu, but keeps the fd after DEVICE_DELETED
#   nodelete  as qemu, but never sends DEVICE_DELETED
import array, json, os, socket, sys

path, mode = sys.argv[1], sys.argv[2]
vendor = int(sys.argv[3], 16) if len(sys.argv) > 3 else 0
device = int(sys.argv[4], 16) if len(sys.argv) > 4 else 0
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(4)
fds = {}      # fdname -> fd (getfd)
pending = set()  # device_del sent, no DEVICE_DELETED yet
devices = {}  # qdev id -> fd

def send(c, obj):
    c.sendall((json.dumps(obj) + "\r\n").encode())

def serve(c):
    if mode == "silent":
        c.recv(1 << 20)
        c.recv(1 << 20)
        return
    if mode == "garbage":
        c.sendall(b"Welcome to the machine\r\n")
    elif mode == "notqmp":
        send(c, {"hello": "world"})
    elif mode == "long":
        c.sendall(b"{" + b"x" * (2 << 20))
    else:
        send(c, {"QMP": {"version": {"qemu": {"major": 10, "minor": 0, "micro": 0}}, "capabilities": []}})
    buf = b""
    got = []  # fds received, not yet taken by getfd
    while True:
        data, anc, _, _ = c.recvmsg(1 << 16, socket.CMSG_SPACE(16))
        if not data:
            return
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(raw[: len(raw) - len(raw) % a.itemsize])
                got.extend(a)
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            m = json.loads(line)
            cmd, args, mid = m["execute"], m.get("arguments", {}), m.get("id")
            if mode == "wrongid":
                send(c, {"return": {}, "id": 999})
                continue
            if cmd == "getfd":
                fds[args["fdname"]] = got.pop()
                send(c, {"return": {}, "id": mid})
            elif cmd == "closefd":
                if args["fdname"] in fds:
                    os.close(fds.pop(args["fdname"]))
                    send(c, {"return": {}, "id": mid})
                else:
                    send(c, {"error": {"class": "GenericError", "desc": "File descriptor named '%s' not found" % args["fdname"]}, "id": mid})
            elif cmd == "device_add":
                devices[args["id"]] = fds.pop(args["fd"])
                send(c, {"return": {}, "id": mid})
            elif cmd == "query-pci":
                devs = [{"bus": 1, "slot": 0, "function": 0, "qdev_id": i,
                         "id": {"vendor": vendor, "device": device}} for i in devices]
                send(c, {"return": [{"bus": 0, "devices": [{"bus": 0, "slot": 2, "function": 0, "qdev_id": "rp1",
                                                             "id": {"vendor": 0x1b36, "device": 0xc},
                                                             "pci_bridge": {"bus": {"number": 1}, "devices": devs}}]}],
                         "id": mid})
            elif cmd == "device_del":
                if args["id"] not in devices:
                    send(c, {"error": {"class": "DeviceNotFound", "desc": "Device '%s' not found" % args["id"]}, "id": mid})
                    continue
                if args["id"] in pending:
                    send(c, {"error": {"class": "GenericError", "desc": "Device %s is already in the process of unplug" % args["id"]}, "id": mid})
                    continue
                pending.add(args["id"])
                send(c, {"return": {}, "id": mid})
                for i in range(3):
                    send(c, {"event": "RTC_CHANGE", "data": {"offset": i}, "timestamp": {"seconds": 1, "microseconds": 0}})
                if mode == "nodelete":
                    continue
                pending.discard(args["id"])
                fd = devices.pop(args["id"])
                if mode != "keepfd":
                    os.close(fd)
                send(c, {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/" + args["id"], "device": args["id"]},
                         "timestamp": {"seconds": 1, "microseconds": 0}})
            else:
                send(c, {"return": {}, "id": mid})

while True:
    c, _ = srv.accept()
    try:
        serve(c)
    except (BrokenPipeError, ConnectionResetError):
        pass
    c.close()
