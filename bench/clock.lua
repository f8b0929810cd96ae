-- A monotonic clock in seconds for the bench scripts:
--   local now = dofile((arg[0]:match("^(.*)/") or ".") .. "/clock.lua")
local ffi = require "ffi"
pcall(ffi.cdef, [[ typedef struct { long s; long ns; } bench_ts; int clock_gettime(int, bench_ts *); ]])
local ts = ffi.new("bench_ts")
return function()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.s) + tonumber(ts.ns) / 1e9
end
