-- wrk's script for bench/api.py: POST /api/v1/redemptions with a different code on every
-- request. Arguments after `--`: the file of codes (one a line), the API key, and the
-- number of wrk threads; each thread takes every n-th code so no two send the same one.
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local path, key, threads = args[1], args[2], tonumber(args[3])
  codes = {}
  local line_no = 0
  for line in io.lines(path) do
    if line_no % threads == id - 1 then
      codes[#codes + 1] = line
    end
    line_no = line_no + 1
  end
  sent = 0
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local code = codes[sent]
  if code == nil then
    error("bench/wrk/redeem.lua ran out of codes; give it a longer list")
  end
  return wrk.format(nil, "/api/v1/redemptions", nil, '{"code": "' .. code .. '"}')
end
