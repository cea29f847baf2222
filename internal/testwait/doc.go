// Package testwait holds the two waits that tests of the control plane
// share: polling a condition until it holds, and a context that ends with
// the test.
package testwait
