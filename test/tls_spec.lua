-- The scheduler over https against a TLS local cluster, with certificates
-- made by the openssl CLI (the spec is skipped without it).
local h = require "test.helpers"
local mesos = h.mesos

local have_openssl = select(2, h.sh("command -v openssl")) == 0

describe("TLS", function()
  local dir, cluster
  setup(function()
    if not have_openssl then return end
    dir = h.tmpdir()
    h.make_pki(dir)
    cluster = assert(mesos.local_cluster(h.local_opts {
      port = 0, tls_cert = dir .. "/cert.pem", tls_key = dir .. "/key.pem",
    }))
  end)
  teardown(function()
    if cluster then cluster:stop() end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("subscribes over https with ca_file", function()
    if not have_openssl then return pending("openssl is not installed") end
    assert.matches("^https://", cluster:url())
    local rec = {}
    local handler = {}
    function handler:subscribed(d, info) rec.subscribed = info.framework_id.value end
    function handler:offers(d, offers) rec.offers = #offers end
    function handler:disconnected(d, reason) rec.reason = reason end
    local d = mesos.scheduler(handler, { master = cluster:url(), ca_file = dir .. "/ca.pem" })
    d:start()
    h.wait_until(d, function() return rec.offers or rec.reason end, 10, "offers")
    assert.is_nil(rec.reason)
    assert.is_string(rec.subscribed)
    assert.are.equal("subscribed", d:state())
    d:stop()
  end)

  it("runs a Lua task on a TLS cluster: executors verify the agent with LIBPROCESS_SSL_CA_FILE", function()
    if not have_openssl then return pending("openssl is not installed") end
    -- master = "local": the scheduler trusts tls_ca_file, and the agent hands
    -- it to the Lua executor, which has no ca_file option of its own here.
    local v = assert(mesos.run("return 6 * 7", {
      timeout = 10,
      local_cluster = h.local_opts {
        tls_cert = dir .. "/cert.pem", tls_key = dir .. "/key.pem", tls_ca_file = dir .. "/ca.pem",
      },
    }))
    assert.are.equal(42, v)
  end)

  it("survives writes to a TLS peer that has gone (no SIGPIPE in a plain luajit)", function()
    if not have_openssl then return pending("openssl is not installed") end
    -- A fresh luajit (SIGPIPE at its default: terminate). A scheduler goes
    -- away without a word; the master keeps writing heartbeats to its TLS
    -- stream while a second scheduler collects three of its own. rustls
    -- writes with writev, which raised SIGPIPE before writes went through
    -- send(MSG_NOSIGNAL).
    local script = dir .. "/gone.lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local mesos = require "mesos"
      local c = assert(mesos.local_cluster { port = 0, heartbeat_interval = 0.05,
        tls_cert = "%s/cert.pem", tls_key = "%s/key.pem" })
      local function sched()
        local beats, sub = 0, false
        local d = mesos.scheduler({ subscribed = function() sub = true end,
          heartbeat = function() beats = beats + 1 end }, { master = c:url(), ca_file = "%s/ca.pem" })
        d:start()
        return d, function() return sub end, function() return beats end
      end
      local d1, sub1 = sched()
      while not sub1() do d1:poll(0.1) end
      d1:abort()
      local d2, sub2, beats2 = sched()
      while beats2() < 3 do d2:poll(0.1) end
      d2:stop()
      c:stop()
      print("alive")
    ]]):format(dir, dir, dir))
    f:close()
    local out, code = h.sh("timeout 60 luajit " .. script)
    assert.are.equal(0, code, out)
    assert.matches("alive", out)
  end)

  it("refuses an unusable ca_file when the driver is created", function()
    assert.has_error(function() mesos.scheduler({}, { master = "https://127.0.0.1:1", ca_file = "/nonexistent.pem" }) end,
      "mesos.scheduler: opts.ca_file: cannot read CA file /nonexistent.pem: I/O error: No such file or directory (os error 2)")
    local ok, err = pcall(mesos.scheduler, {}, { master = "https://127.0.0.1:1", ca_file = "/etc/hostname" })
    assert.is_false(ok)
    assert.matches("holds no certificate", err)
  end)

  it("reports a certificate from an untrusted CA through disconnected", function()
    if not have_openssl then return pending("openssl is not installed") end
    local rec = {}
    local handler = {}
    function handler:subscribed() rec.subscribed = true end
    function handler:disconnected(d, reason) rec.reason = reason end
    local d = mesos.scheduler(handler, {
      master = cluster:url(), ca_file = dir .. "/other.pem", backoff_min = 0.05, backoff_max = 0.1,
    })
    d:start()
    h.wait_until(d, function() return rec.reason end, 10, "disconnected")
    assert.is_nil(rec.subscribed)
    assert.matches("TLS handshake with 127.0.0.1:%d+ failed", rec.reason)
    assert.matches("certificate", rec.reason)
    d:abort()
  end)
end)
