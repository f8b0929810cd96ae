-- Distributed events between the tasks of a framework and its scheduler:
-- publish(topic, value), subscribe(topic), receive(topic, timeout).
--
-- Three parts, one per process kind:
--   * the task side (M.task_api, events/task_side.lua): the `events` table
--     task code sees, talking to its executor over the task process's
--     channel (fd 3);
--   * the executor side (M.bridge, events/bridge.lua): keeps which of its
--     tasks subscribed to what, forwards their publications, hands them
--     what arrives;
--   * the scheduler side (M.router, events/router.lua): knows which
--     executors subscribed to a topic, fans publications out to them, keeps
--     retained values, and gives the framework's own code the same topics.
-- Between the executor and the scheduler travel Mesos framework messages
-- (the default transport, nothing to install) or NATS (M.nats_transport,
-- events/nats.lua). What the parts share is in events/wire.lua.
--
-- Delivery is at most once: a value reaches the subscriptions in effect
-- when the router handles it, in the order its publisher published (per
-- publisher, while nothing is lost); a slow task loses what overflows its
-- inbox (counted). `subscribe` returns once the router has the
-- subscription, so everything published after that reaches it. A value
-- published with { retain = true } is kept (the last one per topic) and
-- handed to every later subscriber first.

local wire = require "mesos.tasks.events.wire"
local nats = require "mesos.tasks.events.nats"
local bridge = require "mesos.tasks.events.bridge"
local router = require "mesos.tasks.events.router"

local M = {}

M.MAGIC = wire.MAGIC                    -- prefix of our framework messages
M.MAX_TOPIC = wire.MAX_TOPIC            -- bytes
M.MAX_VALUE = wire.MAX_VALUE            -- encoded bytes
M.INBOX_LIMIT = wire.INBOX_LIMIT        -- values waiting in one task
M.SUBSCRIBE_TIMEOUT = wire.SUBSCRIBE_TIMEOUT -- seconds
M.pack, M.unpack, M.encode_value = wire.pack, wire.unpack, wire.encode_value
M.new_inbox = wire.new_inbox

--- The `events` table for task code over channel `chan`.
M.task_api = require("mesos.tasks.events.task_side").task_api
--- An executor's bridge, and its framework-message transport.
M.bridge, M.framework_transport = bridge.bridge, bridge.framework_transport
--- The NATS subject of a topic, and an executor's NATS transport.
M.subject, M.nats_transport = nats.subject, nats.transport
--- mesos.router(opts): the scheduler's end of the topics.
M.router, M.Router = router.router, router.Router

return M
