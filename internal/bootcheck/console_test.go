package bootcheck

import (
	"slices"
	"testing"
)

func TestConsole(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		found  string
		tail   []string
	}{
		{"split marker", []string{"boot\nOSR-BO", "OT-OK\n"}, "OSR-BOOT-OK", []string{"boot", "OSR-BOOT-OK"}},
		{"login prompt without newline", []string{"Debian\r\n", "web01 login: "}, "login:", []string{"Debian", "web01 login: "}},
		{"ansi removed", []string{"\x1b[2J\x1b[1;1Hclear\x1b", "[0m\n", "x\x00y\n"}, "", []string{"clear", "xy"}},
		{"tail keeps three", []string{"1\n2\n3\n4\n5\n"}, "", []string{"3", "4", "5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConsole([]string{"OSR-BOOT-OK", "login:"}, 3)
			for _, ch := range tc.chunks {
				c.write([]byte(ch))
			}
			var got string
			select {
			case got = <-c.found:
			default:
			}
			if got != tc.found {
				t.Fatalf("found %q, want %q", got, tc.found)
			}
			if tail := c.tail(); !slices.Equal(tail, tc.tail) {
				t.Fatalf("tail %q, want %q", tail, tc.tail)
			}
		})
	}
}
