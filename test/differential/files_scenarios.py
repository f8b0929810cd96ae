"""Differential harness, the sandboxes' files endpoints (/files/browse,
/files/read, /files/download) on the master's port, where the real kit (a
Mesos 1.11 master and agent sharing one process) and mesos-local's master
both serve every agent's sandboxes. The runner puts these first.

The paths compared are Mesos's virtual ones
(/frameworks/<fw>/executors/<executor>/runs/latest): the sandboxes' real
directories are laid out differently by the two (the real kit's
.../agents/0/work/slaves/<agent>/..., mesos-local's .../agents/<agent>/...),
so where an answer quotes a real directory only its status and ending are
compared. The real kit's command executor is a stand-in that writes its own
lines to stderr: stderr's contents are left out."""

import time
import urllib.parse

from mesosclient import Framework, command_task

SCENARIOS = []


def scenario(name, known=None, group=False):
    def deco(fn):
        SCENARIOS.append({"name": name, "fn": fn, "known": known, "group": group})
        return fn
    return deco


def q(path, **params):
    return urllib.parse.urlencode(dict(path=path, **params))


def observe(r, *headers):
    o = r.observe(*headers)
    if o["content_type"] == "application/json":
        o["body"] = r.json()
    return o


def entries(r, base):
    """A listing, by name relative to base, without times and owners."""
    if r.status != 200:
        return r.observe()
    out = {}
    for e in r.json():
        name = e["path"][len(base):].lstrip("/")
        out[name] = {"mode": e["mode"], "keys": sorted(e),
                     "size": e["size"] if name not in ("stderr",) and e["mode"][0] != "d" else None,
                     "mtime_whole": float(e["mtime"]).is_integer()}
    return out


SCRIPT = ("printf 'hello-out\\n'; printf 'err\\n' >&2; mkdir -p sub/deeper; printf abc > sub/a.txt; "
          "printf '<p>x</p>' > page.html; ln -s /etc/passwd out-link; ln -s sub in-link; "
          "touch ready; sleep 60")


@scenario("files", group=True)
def _files(t):
    out = {}
    with Framework(t, {"name": "files-probe"}) as fw:
        o = fw.offers()[0]
        fw.launch(o, [command_task(o, "f1", SCRIPT)])
        fw.wait_state("f1", ("TASK_RUNNING",), 20)
        v = "/frameworks/%s/executors/f1/runs/latest" % fw.id
        deadline = time.time() + 15
        while time.time() < deadline:
            r = t.get("/files/read?" + q(v + "/ready", offset=-1))
            if r.status == 200:
                break
            time.sleep(0.05)

        def get(endpoint, path, **params):
            return t.get("/files/%s?%s" % (endpoint, q(path, **params)))

        # browse
        out["browse-root"] = entries(get("browse", v), v)
        out["browse-root-slash"] = entries(get("browse", v + "/"), v)
        out["browse-sub"] = entries(get("browse", v + "/sub"), v + "/sub")
        out["browse-symlink-in"] = entries(get("browse", v + "/in-link"), v + "/in-link")
        out["browse-file"] = observe(get("browse", v + "/stdout"))
        out["browse-empty-dir"] = observe(get("browse", v + "/sub/deeper"))
        out["browse-missing"] = observe(get("browse", v + "/nope"))
        out["browse-outside"] = observe(get("browse", "/etc"))
        out["browse-relative"] = observe(get("browse", "relative"))
        out["browse-other-executor"] = observe(
            get("browse", "/frameworks/%s/executors/nope/runs/latest" % fw.id))
        out["browse-runs-dir"] = observe(get("browse", "/frameworks/%s/executors/f1/runs" % fw.id))
        out["browse-no-path"] = t.get("/files/browse").observe()
        out["browse-empty-path"] = t.get("/files/browse?path=").observe()
        r = get("browse", v + "/out-link")
        out["browse-symlink-out"] = {"status": r.status,
                                     "ends": r.text().endswith("/out-link' is inaccessible.\n")}
        r = get("browse", v + "/sub", jsonp="cb")
        out["browse-jsonp"] = {"status": r.status, "content_type": r.header("content-type"),
                               "wrapped": r.text().startswith("cb([") and r.text().endswith("])")}

        # read
        f = v + "/stdout"
        for name, params in (("size", {"offset": -1}), ("all", {"offset": 0}),
                             ("range", {"offset": 2, "length": 3}), ("past-end", {"offset": 1000}),
                             ("zero-length", {"offset": 0, "length": 0}),
                             ("length-minus-one", {"offset": 0, "length": -1}),
                             ("size-ignores-length", {"offset": -1, "length": 3}),
                             ("hex-offset", {"offset": "0x2"}), ("leading-zero", {"offset": "01"}),
                             ("bad-offset", {"offset": "abc"}), ("empty-offset", {"offset": ""}),
                             ("fraction-offset", {"offset": "1.5"}),
                             ("negative-offset", {"offset": -2}),
                             ("bad-length", {"offset": 0, "length": "x"}),
                             ("negative-length", {"offset": 0, "length": -5}),
                             ("negative-offset-bad-length", {"offset": -2, "length": "x"}),
                             ("bad-offset-negative-length", {"offset": "x", "length": -5})):
            out["read-" + name] = observe(get("read", f, **params))
        out["read-no-offset"] = observe(get("read", f))
        out["read-dotdot-inside"] = observe(get("read", v + "/sub/../stdout", offset=0))
        out["read-double-slash"] = observe(get("read", v + "//sub/a.txt", offset=0))
        out["read-through-symlink"] = observe(get("read", v + "/in-link/a.txt", offset=0))
        out["read-dir"] = observe(get("read", v + "/sub", offset=0))
        out["read-missing"] = observe(get("read", v + "/nope", offset=0))
        out["read-outside"] = observe(get("read", "/etc/passwd", offset=0))
        out["read-no-path"] = t.get("/files/read?offset=0").observe()
        out["read-missing-bad-offset"] = observe(get("read", "/nope", offset="abc"))
        out["read-repeated-path"] = observe(t.get("/files/read?%s&path=/nope" % q(f, offset=0)))
        r = get("read", v + "/out-link", offset=0)
        out["read-symlink-out"] = {"status": r.status,
                                   "ends": r.text().endswith("/out-link' is inaccessible.\n")}
        r = get("read", v + "/" + "../" * 40 + "etc/passwd", offset=0)
        out["read-dotdot-outside"] = {"status": r.status,
                                      "ends": r.text().endswith("etc/passwd' is inaccessible.\n")}
        r = get("read", f, offset=0, jsonp="cb")
        out["read-jsonp"] = {"status": r.status, "content_type": r.header("content-type"),
                             "body": r.text()}

        # download
        out["download-stdout"] = get("download", f).observe("Content-Disposition")
        out["download-txt"] = get("download", v + "/sub/a.txt").observe("Content-Disposition")
        out["download-html"] = get("download", v + "/page.html").observe("Content-Disposition")
        out["download-dir"] = get("download", v + "/sub").observe()
        out["download-missing"] = get("download", v + "/nope").observe()
        out["download-outside"] = get("download", "/etc/passwd").observe()
        out["download-no-path"] = t.get("/files/download").observe()
        r = get("download", v + "/out-link")
        out["download-symlink-out"] = {"status": r.status,
                                       "ends": r.text().endswith("/out-link' is inaccessible.\n")}

        # The executor's real directory, as its agent's state gives it.
        st = t.get("/slave(1)/state").json()
        dirs = [x.get("directory") for f2 in st.get("frameworks", []) if f2.get("id") == fw.id
                for x in f2.get("executors", []) if x.get("id") == "f1"]
        d = dirs[0] if dirs else None
        out["real-directory-known"] = bool(d)
        if d:
            out["browse-real-directory"] = entries(get("browse", d), d)
            out["read-real-directory"] = observe(get("read", d + "/stdout", offset=0))
            out["browse-real-parent"] = observe(get("browse", d.rsplit("/", 1)[0]))
    return out
