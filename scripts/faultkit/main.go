// Command faultkit is scripts/fault.sh's helper, TEST-ONLY: never part of the tether
// binary, never run against a production store. Subcommands:
//
//	faultkit mailsink --port-file F --http ADDR   SMTP sink; GET ADDR/messages lists what came (no bodies)
//	faultkit proxy --listen ADDR --to ADDR        TCP proxy (fault.sh kills it to cut PostgreSQL connections)
//	faultkit seed ...                             sandbox users, apps and grants; connections written sealed
//	faultkit chaos ...                            revoke grants, disable accounts (recorded in a fates file)
//	faultkit race ...                             operator refreshes of one connection at once, over serve's API
//	faultkit check ...                            the end-of-run figures; exit 1 when one is wrong
//
// seed writes connections straight into the store, sealed with TETHER_ENCRYPTION_KEYS, the
// way the connect flow's callback does (sync/connect.Flow.store): the operator path (a
// connect link per member followed through the sandbox's consent page) works but costs five
// HTTP round trips and a join per connection, too slow for 10,000 on two cores.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: faultkit mailsink|proxy|seed|chaos|race|check [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "mailsink":
		err = runMailsink(os.Args[2:])
	case "proxy":
		err = runProxy(os.Args[2:])
	case "seed":
		err = runSeed(os.Args[2:])
	case "chaos":
		err = runChaos(os.Args[2:])
	case "race":
		err = runRace(os.Args[2:])
	case "check":
		err = runCheck(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (want mailsink, proxy, seed, chaos, race or check)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultkit %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
