-- logwarden.checked: how many requests the access check ran on, for GET
-- /status ("checked"). `logwarden check-node` compares it with the lines the
-- ingester received from the node, to find a server {} that logs but never
-- runs the check.
--
-- Each worker counts in a Lua local and adds its count to m:checked in
-- logwarden_state once a second, from a timer its first counted request
-- starts: a request pays an increment, not a shared-dict write. The sum is up
-- to a second behind; a worker's last second is lost when it exits.

local state = require "logwarden.state"

local ngx = ngx
local ngx_log = ngx.log
local ERR = ngx.ERR

local _M = { _VERSION = '0.1.0' }

local KEY_CHECKED = state.KEY_CHECKED
local _, dict = state.dicts()

local n, counting = 0, false

local function flush()
    local c = n
    if c > 0 then
        n = 0
        local _, err = dict:incr(KEY_CHECKED, c, 0)
        if err then
            -- Kept for the next second (a full dict, say).
            n = n + c
        end
    end
end

local function start()
    counting = true
    local ok, err = ngx.timer.every(1, flush)
    if not ok then
        ngx_log(ERR, "logwarden.checked: no timer, the count stays in this worker: ", err)
    end
end

-- One request checked (logwarden.access calls it first thing).
function _M.add()
    n = n + 1
    if not counting then
        start()
    end
end

-- The count of every worker, as of their last flush.
function _M.total()
    return dict:get(KEY_CHECKED) or 0
end

return _M
