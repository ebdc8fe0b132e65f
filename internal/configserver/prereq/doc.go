// Package prereq runs the prerequisite checks of a configuration server or process server
// installation (the seed's "Prerequisites Check", "Internet Settings" and "Network Selection") and
// prints them as a table: check, result (pass, warn, fail), message and how to fix it. Any fail stops
// the installation before anything is written.
//
// Every check gets its environment through Env (free space, listening, interfaces, the vault probe,
// the clock), so tests drive each path; Default gives the real one.
package prereq
