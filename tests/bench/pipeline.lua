-- wrk script for tests/bench/run.sh: HTTP/1.1 pipelining, DEPTH requests
-- (default 16) in every write, each a GET of the URL's path.
--
--	wrk -t2 -c64 -d5s -s pipeline.lua http://127.0.0.1:8000/ -- 16
--
-- wrk counts the requests in the string at start-up (one write carries
-- DEPTH of them) and a connection writes again only once all DEPTH
-- responses have arrived, so there are always up to DEPTH requests in
-- flight per connection; req/s counts responses.

local depth = 16

init = function(args)
	depth = tonumber(args[1]) or depth
	local r = {}
	for i = 1, depth do
		r[i] = wrk.format(nil, nil)
	end
	req = table.concat(r)
end

request = function()
	return req
end
