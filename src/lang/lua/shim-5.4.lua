-- What the shared prelude (prelude.lua) needs done the Lua 5.4 way (wasmoon). It runs
-- first, on a fresh state, and returns the parts that differ; the prelude gets them as its
-- fourth argument.
local G = _G
local setmetatable, rawget, type, error, next = setmetatable, rawget, type, error, next

-- No script finalizer: Lua 5.4 switches hooks off inside `__gc`, so a looping finalizer
-- could never be stopped in place. Only metatables that have a `__gc` when they are set
-- mark an object for finalization, so refusing those here is enough (`debug.setmetatable`
-- goes with `debug`).
G.setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc finalizers are not allowed in the sandbox (Lua runs them where no time limit can stop them); " ..
      "release resources explicitly, or with a to-be-closed variable (local x <close> = ...)", 2)
  end
  return setmetatable(t, mt)
end

return {
  gcoptions = { collect = true, count = true, step = true, isrunning = true, incremental = true, generational = true },
  -- print hands each argument's text to the host, which reads no more than the output holds.
  joinprint = false,
  -- A host table is a plain table behind a locked metatable; pairs reaches the real one
  -- through an iterator that closes over it, never handing it to the script.
  proxy = function(real, _, mt)
    local p = {}
    mt.__pairs = function() return function(_, k) return next(real, k) end, p, nil end
    mt.__metatable = false
    return setmetatable(p, mt)
  end,
  -- A 5.4 table cannot refuse rawset: the host table is as built while every proxy is empty.
  pristine = function(proxies)
    for i = 1, #proxies do
      if next(proxies[i]) ~= nil then return false end
    end
    return true
  end,
}
