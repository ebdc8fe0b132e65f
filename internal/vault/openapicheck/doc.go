// Package openapicheck compares the vault's OpenAPI document with the routes a package serves, for
// the tests of the vault and of the packages that serve endpoints under it (x-osr-extra). It is
// imported by tests only (the vault's from its external test package).
package openapicheck
