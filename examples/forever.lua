-- An endless loop: press Stop (or call engine.interrupt()) to end it.
local n = 0
while true do
  n = n + 1
end
