// Package childproc runs child processes the way the vault's hosts run qemu and plan scripts: in a
// process group of their own that their context's end kills whole, with the last bytes of their
// output kept for the error message.
package childproc
