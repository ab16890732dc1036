// Package policy is a placeholder.
package policy
