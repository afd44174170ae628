// Command caddy is Caddy with the standard modules and georestrict, the same
// program that `xcaddy build --with github.com/georestrict/caddy-georestrict`
// produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/georestrict/caddy-georestrict"
)

func main() {
	caddycmd.Main()
}
