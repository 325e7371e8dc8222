package config

import (
	"fmt"
	"strings"
)

// EnvExample renders .env.example from the Config tags: every variable with its doc, flag,
// default and an example. `go test ./config -update` rewrites the file; the test fails
// while the file is stale.
func EnvExample() string {
	var b strings.Builder
	b.WriteString("# tether configuration. Every variable is optional unless a command says otherwise;\n")
	b.WriteString("# the value shown is the default (commented out) or, where there is no default, an example.\n")
	b.WriteString("# Command-line flags override variables (tether <verb> --help lists them).\n")
	b.WriteString("# Generated from config/config.go by `go test ./config -update`; edit the tags there.\n")
	for _, v := range Vars() {
		b.WriteString("\n")
		for _, line := range wrap(v.Doc, 90) {
			fmt.Fprintf(&b, "# %s\n", line)
		}
		if v.Flag != "" {
			fmt.Fprintf(&b, "# Flag: --%s\n", v.Flag)
		}
		if v.Default != "" {
			if v.Example != v.Default {
				fmt.Fprintf(&b, "# Example: %s\n", v.Example)
			}
			fmt.Fprintf(&b, "# %s=%s\n", v.Name, shellQuote(v.Default))
		} else {
			fmt.Fprintf(&b, "# %s=%s\n", v.Name, shellQuote(v.Example))
		}
	}
	return b.String()
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " <>*?&;|$") {
		return "'" + s + "'"
	}
	return s
}

func wrap(s string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+len(w)+1 > width {
			out = append(out, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(out, line)
}
