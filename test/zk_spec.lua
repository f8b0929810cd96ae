-- High availability with a real ZooKeeper (Debian's zookeeperd, started
-- here and stopped by PID): two `mesos-local --zk` processes elect a
-- leader; a Lua scheduler given the zk:// URL survives `kill -9` of the
-- leader and resubscribes to the other master with its framework id.
local h = require "test.helpers"
local mesos = h.mesos
local socket = require "socket"

local function ruok(port)
  local c = socket.tcp()
  c:settimeout(1)
  if not c:connect("127.0.0.1", port) then c:close() return false end
  c:send("ruok")
  local answer = c:receive("*a")
  c:close()
  return answer == "imok"
end

local function start_zookeeper(dir)
  local probe = socket.bind("127.0.0.1", 0)
  local _, port = probe:getsockname()
  probe:close()
  port = tonumber(port)
  local f = assert(io.open(dir .. "/zoo.cfg", "w"))
  f:write(("tickTime=500\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
    .. "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n"):format(dir, port))
  f:close()
  local cp = "/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-nop.jar"
  local out = h.sh(("java -Xmx256m -cp %s org.apache.zookeeper.server.quorum.QuorumPeerMain %s/zoo.cfg > %s/zk.log 2>&1 & echo $!")
    :format(cp, dir, dir))
  local pid = assert(tonumber(out:match("(%d+)")), out)
  local t0 = h.now()
  while not ruok(port) do
    assert(h.now() - t0 < 60, "ZooKeeper did not start: " .. (h.read_file(dir .. "/zk.log") or ""))
    socket.sleep(0.05)
  end
  return port, pid
end

describe("ZooKeeper high availability", function()
  local dir, zk_pid, masters = nil, nil, {}

  setup(function()
    dir = h.tmpdir()
    os.execute("mkdir -p " .. dir .. "/data")
  end)

  teardown(function()
    for _, m in ipairs(masters) do m.stop() end
    if zk_pid then os.execute("kill -9 " .. zk_pid) end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("a scheduler survives kill -9 of the leading master", function()
    local port
    port, zk_pid = start_zookeeper(dir)
    local url = ("zk://127.0.0.1:%d/mesos"):format(port)
    local args = "--allocation-interval 0.1 --heartbeat-interval 0.5 --zk-session-timeout 1 --zk " .. url
    masters[1] = h.start_mesos_local(args)
    masters[2] = h.start_mesos_local(args)

    local rec = { subscribed = {}, disconnected = 0 }
    local handler = {}
    function handler:subscribed(d, info)
      table.insert(rec.subscribed, { id = info.framework_id.value, master = info.master_info.address.port })
    end
    function handler:disconnected() rec.disconnected = rec.disconnected + 1 end
    local d = mesos.scheduler(handler, {
      master = url, backoff_min = 0.05, backoff_max = 0.3,
      framework = { name = "zk-ha", failover_timeout = 60 },
    })
    d:start()
    h.wait_until(d, function() return #rec.subscribed == 1 end, 30, "the first SUBSCRIBED")
    local first = rec.subscribed[1]
    local leader, other = masters[1], masters[2]
    if tonumber(leader.master:match(":(%d+)$")) ~= first.master then leader, other = other, leader end
    assert.are.equal(first.master, tonumber(leader.master:match(":(%d+)$")))

    -- No goodbye: the leader's ZooKeeper session has to expire.
    local t0 = h.now()
    os.execute("kill -9 " .. leader.pid)
    h.wait_until(d, function() return #rec.subscribed == 2 end, 30, "SUBSCRIBED from the new leader")
    local took = h.now() - t0
    local second = rec.subscribed[2]
    assert.are.equal(first.id, second.id)
    assert.are.equal(tonumber(other.master:match(":(%d+)$")), second.master)
    assert.is_true(rec.disconnected >= 1)
    -- The new leader knows the framework.
    local state = h.sh("curl -s " .. other.url .. "/master/state")
    assert.truthy(state:find(first.id, 1, true), state)
    io.stderr:write(("\n[zk] kill -9 of the leader -> resubscribed to the other master in %.2f s\n"):format(took))
    d:stop()
    h.poll_for(d, 0.1)
  end)
end)

describe("ZooKeeper that cannot help", function()
  it("names the ensemble and the cause when no server can be reached, and gives up", function()
    local why = {}
    local handler = {}
    function handler:disconnected(_, reason) why[#why + 1] = reason end
    function handler:stopped(_, reason) why.stopped = reason end
    local d = mesos.scheduler(handler, { master = "zk://127.0.0.1:1,localhost:2/mesos", give_up_after = 0.5 })
    finally(function() d:abort() end)
    d:start()
    h.wait_until(d, function() return why.stopped end, 20, "the driver to give up")
    assert.matches("no leading master in ZooKeeper: cannot reach any ZooKeeper server of 127.0.0.1:1,localhost:2 "
      .. "(127.0.0.1:1: Connection refused", why[1], 1, true)
    assert.matches("localhost:2: Connection refused", why[1], 1, true)
    assert.matches("gave up after 0.5s without a subscription", why.stopped, 1, true)
    assert.matches("127.0.0.1:1: Connection refused", why.stopped, 1, true)
  end)

  it("stop() returns at once while a ZooKeeper server takes connections and never answers", function()
    -- Listening, never accepting: connections complete in the kernel's
    -- backlog and no byte ever comes back.
    local mute = assert(socket.bind("127.0.0.1", 0))
    finally(function() mute:close() end)
    local _, port = mute:getsockname()
    local d = mesos.scheduler({}, { master = ("zk://127.0.0.1:%d/mesos"):format(port), connect_timeout = 5 })
    finally(function() d:abort() end)
    d:start()
    h.wait_until(d, function() return d:stats().reconnects >= 1 end, 20, "a first attempt")
    -- The attempt waits up to connect_timeout (5 s) for the detector, which
    -- is inside its ZooKeeper session attempt (the client's own connection
    -- timeout is 5 s too); stop must wait for neither.
    local t0 = h.now()
    d:stop()
    local took = h.now() - t0
    assert.are.equal("stopped", d:state())
    assert.is_true(took < 0.5, ("stop() took %.3f s"):format(took))
  end)
end)
