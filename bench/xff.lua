-- wrk script for bench/run.sh: every request carries an X-Forwarded-For
-- client address, which Caddy believes because the connection comes from a
-- trusted proxy (127.0.0.1). The same script drives the plain Caddy and the
-- gateway, so both sides pay the same client cost.
--
--   wrk ... -s xff.lua <url> -- <clients> <path> [<body KiB>]
--
-- clients:
--   many-mixed  a new pseudo-random public IPv4 address per request: 30% from
--               Russian ranges (95.108.128.0/17, 178.154.128.0/18,
--               46.17.40.0/21: wholly RU in the embedded database), the rest
--               anywhere public
--   many-ru     a new pseudo-random address per request, Russian ranges only
--   many-world  a new pseudo-random public address per request, none from
--               the Russian ranges on purpose (the other countries' traffic
--               of the throttle scenario)
--   few-mixed   4 fixed addresses, 2 Russian and 2 not, in turn
--   few-ru      4 fixed Russian addresses, in turn
-- body KiB: when given and above 0, every request is a POST with a body of
-- that size (only with the few-* clients, whose requests are built once).
--
-- done() prints one machine-readable RESULT line; latencies are in µs.

local floor, random, format = math.floor, math.random, string.format

-- Russian ranges, first address and size: every address in them is RU in
-- the embedded database (77.88.0.0/18 and 5.255.192.0/18 are not wholly).
-- bench/run.sh checks their ends before it measures.
local ru_ranges = {
	{ 95 * 2 ^ 24 + 108 * 2 ^ 16 + 128 * 2 ^ 8, 2 ^ 15 },  -- 95.108.128.0/17
	{ 178 * 2 ^ 24 + 154 * 2 ^ 16 + 128 * 2 ^ 8, 2 ^ 14 }, -- 178.154.128.0/18
	{ 46 * 2 ^ 24 + 17 * 2 ^ 16 + 40 * 2 ^ 8, 2 ^ 11 },    -- 46.17.40.0/21
}
local few = {
	["few-mixed"] = { "77.88.55.88", "8.8.8.8", "5.255.255.5", "81.2.69.142" },
	["few-ru"] = { "77.88.55.88", "5.255.255.5", "95.108.213.1", "77.88.21.3" },
}

-- First octets that are never public unicast (or hold mostly special ranges).
local not_public = { [0] = true, [10] = true, [100] = true, [127] = true,
	[169] = true, [172] = true, [192] = true, [198] = true }

local function dotted(n)
	return format("%d.%d.%d.%d", floor(n / 2 ^ 24), floor(n / 2 ^ 16) % 256,
		floor(n / 2 ^ 8) % 256, n % 256)
end

local function russian()
	local r = ru_ranges[random(#ru_ranges)]
	return dotted(r[1] + random(1, r[2] - 2))
end

local function public()
	local a = random(1, 223)
	while not_public[a] do a = random(1, 223) end
	return format("%d.%d.%d.%d", a, random(0, 255), random(0, 255), random(1, 254))
end

local clients, path, reqs, n
local next_addr
local headers = {}

function setup(thread)
	-- Distinct seeds per thread, the same every run.
	local id = (counter or 0) + 1
	counter = id
	thread:set("seed", id)
end

function init(args)
	clients, path = args[1] or "many-mixed", args[2] or "/"
	local kib = tonumber(args[3] or "0")
	math.randomseed(seed or 1)
	n = 0
	if few[clients] then
		local method, body = "GET", nil
		if kib > 0 then
			method, body = "POST", string.rep("x", kib * 1024)
		end
		reqs = {}
		for i, ip in ipairs(few[clients]) do
			reqs[i] = wrk.format(method, path, { ["X-Forwarded-For"] = ip }, body)
		end
	elseif clients == "many-mixed" then
		next_addr = function()
			if random() < 0.3 then return russian() end
			return public()
		end
	elseif clients == "many-ru" then
		next_addr = russian
	elseif clients == "many-world" then
		next_addr = public
	else
		error("xff.lua: unknown clients " .. tostring(clients))
	end
	if kib > 0 and not reqs then
		error("xff.lua: a body needs few-* clients")
	end
end

function request()
	if reqs then
		n = n % #reqs + 1
		return reqs[n]
	end
	headers["X-Forwarded-For"] = next_addr()
	return wrk.format(nil, path, headers)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		e.status, e.connect + e.read + e.write + e.timeout))
end
