local S = require "mesos.serialize"
local V = S.MARKER -- "v1;": every encoding starts with the format's version

-- Exact equality, also for nan and the sign of zero.
local function same_number(a, b)
  if a ~= a then return b ~= b end
  if a == 0 and b == 0 then return 1 / a == 1 / b end
  return a == b
end

local function roundtrip(v)
  local bytes = assert(S.encode(v))
  local back, err = S.decode(bytes)
  assert.is_nil(err)
  return back, bytes
end

-- A deterministic pseudo-random generator (independent of math.random state).
local function prng(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n
  end
end

describe("mesos.serialize", function()
  it("round-trips scalars", function()
    for _, v in ipairs { true, false, 0, 1, -1, 42, 2 ^ 31, 2 ^ 53, -2 ^ 53, 2 ^ 63, 0.1, -2.5, 1e300, 1 / 3 } do
      assert.is_true(same_number(v, (roundtrip(v))), tostring(v))
    end
    assert.are.equal("v1;n42;", S.encode(42))
    assert.are.equal(V .. "t", S.encode(true))
    assert.is_nil(roundtrip(nil))
    assert.are.equal(V .. "z", S.encode(nil))
  end)

  it("round-trips inf, -inf, nan, -0.0 and extreme doubles exactly", function()
    local specials = { math.huge, -math.huge, 0 / 0, -0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
      1.7976931348623157e308, 0.1 + 0.2, 123456789012345680 }
    for _, v in ipairs(specials) do
      assert.is_true(same_number(v, (roundtrip(v))), string.format("%.17g", v))
    end
    assert.are.equal(-math.huge, 1 / roundtrip(-0.0)) -- really -0.0
  end)

  it("round-trips 20000 random doubles bit for bit", function()
    local rnd = prng(7)
    for _ = 1, 20000 do
      local mantissa = rnd(2 ^ 26) * 2 ^ 26 + rnd(2 ^ 26) + 1
      local v = math.ldexp(mantissa, rnd(2098) - 1126) * (rnd(2) == 0 and -1 or 1)
      local back = roundtrip(v)
      if not same_number(v, back) then error(string.format("%.17g came back as %.17g", v, back)) end
    end
  end)

  it("round-trips strings with any bytes", function()
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    for _, s in ipairs { "", "\0", "a\0b", "\255\254\192\128", "\237\160\128", all, all:rep(100), "s3:abc", "}" } do
      assert.are.equal(s, (roundtrip(s)))
    end
    assert.are.equal(V .. "s3:a\0b", S.encode("a\0b"))
  end)

  it("round-trips nested tables with array and hash parts", function()
    local v = {
      1, "two", { 3, { 4, { 5 } } }, false,
      x = { y = { z = "deep" } },
      [true] = "yes", [false] = 0, [1.5] = "float key", [-3] = "negative", [0] = "zero",
      ["with space"] = {}, ["\0"] = "nul key",
      [2 ^ 53] = "big",
    }
    assert.are.same(v, (roundtrip(v)))
    assert.are.equal(V .. "{2:n1;n2;s1:xt}", S.encode { 1, 2, x = true })
  end)

  it("keeps holes: values after a nil go to the hash part", function()
    local back = roundtrip { 1, nil, 3, [10] = 10 }
    assert.are.equal(1, back[1])
    assert.is_nil(back[2])
    assert.are.equal(3, back[3])
    assert.are.equal(10, back[10])
  end)

  it("writes a shared (acyclic) table twice", function()
    local shared = { 1 }
    local back = roundtrip { a = shared, b = shared }
    assert.are.same({ a = { 1 }, b = { 1 } }, back)
  end)

  it("ignores metatables: no __index, __pairs or __tostring runs", function()
    local t = setmetatable({ 1 }, {
      __index = function() error("__index ran") end,
      __tostring = function() error("__tostring ran") end,
      __len = function() error("__len ran") end,
    })
    assert.are.same({ 1 }, (roundtrip(t)))
  end)

  it("encodes multiple values with their nils and count", function()
    local bytes = assert(S.encode_list(3, 1, nil, 3))
    assert.are.equal(V .. "L3:n1;zn3;", bytes)
    local n, values = S.decode_list(bytes)
    assert.are.equal(3, n)
    assert.are.same({ 1, nil, 3 }, values)

    n, values = S.decode_list(assert(S.encode_list(2, nil, nil)))
    assert.are.equal(2, n)
    assert.is_nil(values[1])
    assert.is_nil(values[2])

    n, values = S.decode_list(assert(S.encode_list(0)))
    assert.are.equal(0, n)
    assert.are.same({}, values)

    n, values = S.decode_list(assert(S.encode_values(2, { "a", { b = 1 } })))
    assert.are.same({ "a", { b = 1 } }, values)
    assert.are.equal(2, n)
  end)

  it("keeps lists and single values apart", function()
    local n, err = S.decode_list(S.encode(1))
    assert.is_nil(n)
    assert.matches("not a value list", err)
    local v, err2 = S.decode(S.encode_list(1, 1))
    assert.is_nil(v)
    assert.matches("bad tag", err2)
  end)

  describe("refuses", function()
    it("cyclic tables, naming the path", function()
      local t = { a = {} }
      t.a.b = t
      assert.are.same({ nil, "cyclic table at value.a.b" }, { S.encode(t) })
      local self = {}
      self[1] = self
      assert.are.same({ nil, "cyclic table at result[1][1]" }, { S.encode_list(1, self) })
    end)

    it("functions, userdata, threads and cdata, naming the path", function()
      assert.are.same({ nil, "cannot serialise a function at result[2].x" },
        { S.encode_list(2, 1, { x = print }) })
      assert.are.same({ nil, "cannot serialise a userdata at value.out" }, { S.encode { out = io.stdout } })
      assert.are.same({ nil, "cannot serialise a thread at value[1]" },
        { S.encode { coroutine.create(print) } })
      assert.are.same({ nil, 'cannot serialise a function at value["a b"][2]' },
        { S.encode { ["a b"] = { 1, print } } })
      if jit then
        local cdata = loadstring("return 1ULL")()
        assert.are.same({ nil, "cannot serialise a cdata at result[1]" }, { S.encode_list(1, cdata) })
      end
    end)

    it("tables and functions as keys", function()
      assert.are.same({ nil, "cannot serialise a table as a table key at value.k" },
        { S.encode { k = { [{}] = 1 } } })
      assert.are.same({ nil, "cannot serialise a function as a table key at value" },
        { S.encode { [print] = 1 } })
    end)

    it("tables nested deeper than 200 levels, both ways", function()
      local function nest(n)
        local t = {}
        for _ = 2, n do t = { t } end
        return t
      end
      assert.is_string(S.encode(nest(200)))
      local v, err = S.encode(nest(201))
      assert.is_nil(v)
      assert.matches("tables nested deeper than 200 at value%[1%]", err)
      assert.is_table(S.decode(V .. ("{1:"):rep(199) .. "{0:}" .. ("}"):rep(199)))
      local d, derr = S.decode(V .. ("{1:"):rep(200) .. "{0:}" .. ("}"):rep(200))
      assert.is_nil(d)
      assert.matches("nested deeper than 200", derr)
      -- very deep input fails fast, without a stack overflow
      d, derr = S.decode(V .. ("{1:"):rep(1e6))
      assert.is_nil(d)
      assert.matches("nested deeper than 200", derr)
    end)

    it("output larger than max_bytes (default 64 MiB)", function()
      assert.are.equal(64 * 1024 * 1024, S.MAX_BYTES)
      local v, err = S.encode(("x"):rep(100), { max_bytes = 50 })
      assert.is_nil(v)
      assert.are.equal("encoding exceeds max_bytes (50) at value", err)
      assert.are.same({ nil, "encoding exceeds max_bytes (20) at result[2].x" },
        { S.encode_values(2, { 1, { x = ("y"):rep(30) } }, { max_bytes = 20 }) })
      -- the limit counts every byte: marker, tag, length and the string
      assert.is_string(S.encode(("x"):rep(100), { max_bytes = #V + 105 }))
      assert.is_nil(S.encode(("x"):rep(100), { max_bytes = #V + 104 }))
      -- a DAG that would expand exponentially stops at the limit
      local t = {}
      for _ = 1, 60 do t = { t, t } end
      v, err = S.encode(t, { max_bytes = 1e5 })
      assert.is_nil(v)
      assert.matches("max_bytes", err)
    end)
  end)

  describe("decode", function()
    it("rejects malformed input with nil, err", function()
      local bad = {
        "", "x", "n", "n;", "n1", "n0x10;", "n1e;", "n 1;", "n1;n2;", "nNaN;", "ninfinity;",
        "s", "s5:abc", "s-1:", "s1a", "s99999999999999999:", "s:",
        "{", "{0:", "{1:", "{1:}", "{0:z}", "{1:z}", "{0:n1;}", "{0:n1;z}", "{0:{0:}n1;}",
        "{0:znan;}", "{0:nnan;t}", "{0:s1:an1;s1:an2;}", "{0:n1;tn1;f}", "}", "{x:}", "{-1:}",
        "L", "L1:", "ttt", "T", "\0", "s2:ab\0",
      }
      for _, s in ipairs(bad) do
        s = V .. s
        local ok, v, err = pcall(S.decode, s)
        assert.is_true(ok, s)
        assert.is_nil(v, s)
        assert.is_string(err, s)
        assert.matches("^decode: ", err)
      end
      local v, err = S.decode(42)
      assert.is_nil(v)
      assert.are.equal("decode: expected a string, got number", err)
      assert.are.same({ nil, "decode: trailing bytes at byte 7" }, { S.decode(V .. "n1;x") })
      assert.are.same({ nil, "decode: duplicate table key at byte 14" }, { S.decode(V .. "{0:s1:an1;s1:an2;}") })
    end)

    it("refuses data without the format version marker or of another version", function()
      local missing = 'decode: no format version marker (expected "v1;"): not data of mesos.serialize format version 1'
      -- what the format before the marker wrote, and anything else
      for _, s in ipairs { "n42;", "{2:n1;n2;s1:xt}", "L3:n1;zn3;", "", "v", "v1", "v;n1;", "vx;n1;", " v1;n1;" } do
        assert.are.same({ nil, missing }, { S.decode(s) }, s)
        assert.are.same({ nil, missing }, { S.decode_list(s) }, s)
      end
      local other = "decode: format version 2, but this mesos.serialize reads format version 1"
      assert.are.same({ nil, other }, { S.decode("v2;n42;") })
      assert.are.same({ nil, other }, { S.decode_list("v2;L1:n1;") })
      assert.are.same({ nil, "decode: format version 01, but this mesos.serialize reads format version 1" },
        { S.decode("v01;n42;") })
      local v, err = S.decode("v" .. ("9"):rep(1000) .. ";z")
      assert.is_nil(v)
      assert.matches("^decode: format version 999999999%.%.%., but", err)
      assert.are.equal(1, S.VERSION)
      assert.are.equal("v1;", S.MARKER)
    end)

    it("rejects every truncation of valid encodings", function()
      local samples = {
        S.encode { 1, "two", { 3, x = { y = false } }, [0.5] = -0.0, s = ("z"):rep(20) },
        S.encode("hello"), S.encode(123.456), S.encode(true), S.encode_list(3, 1, nil, { 2 }),
      }
      for _, full in ipairs(samples) do
        for cut = 0, #full - 1 do
          local prefix = full:sub(1, cut)
          local ok, v, err = pcall(S.decode, prefix)
          assert.is_true(ok)
          assert.is_nil(v, prefix)
          assert.is_string(err, prefix)
          local ok2, n, err2 = pcall(S.decode_list, prefix)
          assert.is_true(ok2)
          assert.is_nil(n)
          assert.is_string(err2)
        end
      end
    end)

    it("never raises on random or mutated input (fuzz)", function()
      local rnd = prng(12345)
      local alphabet = "ztfns{}L0123456789:;.-+eE{}{}xinaz\0\255"
      local base = S.encode { 1, "two", { 3, x = { y = false, [true] = 1.5 } }, s = "abc" }
      local function random_bytes(len, from_alphabet)
        local out = {}
        for i = 1, len do
          if from_alphabet then
            local j = rnd(#alphabet) + 1
            out[i] = alphabet:sub(j, j)
          else
            out[i] = string.char(rnd(256))
          end
        end
        return table.concat(out)
      end
      local decoded = 0
      for i = 1, 6000 do
        local input
        if i % 3 == 0 then
          input = random_bytes(rnd(40), false)
        elseif i % 3 == 1 then
          input = random_bytes(rnd(40), true)
        else -- mutate one to three bytes of a valid encoding
          input = base
          for _ = 1, rnd(3) + 1 do
            local at = rnd(#input) + 1
            input = input:sub(1, at - 1) .. random_bytes(1, rnd(2) == 0) .. input:sub(at + 1)
          end
        end
        for _, decoder in ipairs { S.decode, S.decode_list } do
          local ok, v, err = pcall(decoder, input)
          if not ok then error(("decoder raised on %q: %s"):format(input, tostring(v))) end
          if v == nil and err ~= nil then
            assert.is_string(err)
          else
            decoded = decoded + 1
          end
        end
      end
      assert.is_true(decoded > 0) -- some mutations are still valid
    end)

    it("runs in linear time", function()
      local function cost(n)
        local parts = { V .. "{" .. n .. ":" }
        for i = 1, n do parts[#parts + 1] = (i % 2 == 0) and "n12345;" or "s5:hello" end
        parts[#parts + 1] = "}"
        local input = table.concat(parts)
        local t0 = os.clock()
        local v = assert(S.decode(input))
        assert.are.equal(n, #v)
        return os.clock() - t0
      end
      cost(20000) -- warm up
      local small, big = cost(25000), cost(200000)
      assert.is_true(big < math.max(small, 0.01) * 40, ("25k items %.3fs, 200k items %.3fs"):format(small, big))
      -- a huge declared length with little data fails at once
      local t0 = os.clock()
      assert.is_nil(S.decode(V .. "{999999999999999:n1;"))
      assert.is_nil(S.decode(V .. "s999999999999999:abc"))
      assert.is_true(os.clock() - t0 < 0.5)
    end)
  end)
end)
