-- wrk script: recipient trail lookups, a random recipient per request.
-- env: RCPTS (file, one address per line), TOKEN_FILE (bearer token file)
local rcpts = {}
for line in io.lines(os.getenv("RCPTS")) do
  rcpts[#rcpts + 1] = line:gsub("@", "%%40")
end
local f = io.open(os.getenv("TOKEN_FILE"))
local token = f:read("*l")
f:close()
local hdr = { ["Authorization"] = "Bearer " .. token }
local limit = os.getenv("LIMIT") or "1000"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

request = function()
  local r = rcpts[math.random(#rcpts)]
  return wrk.format("GET", "/v1/trail?limit=" .. limit .. "&rcpt=" .. r, hdr)
end

response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. "\n")
  end
end
