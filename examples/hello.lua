-- A small rule script: prints, computes, and returns a value (the exec result).
local items = { 3, 1, 2 }
table.sort(items)
print("sorted:", table.concat(items, ","))
return #items
