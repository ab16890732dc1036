package validate

import "github.com/mtasts-go/mtasts/internal/testca"

// testNow is the time at which the tests validate certificates, within the
// validity of every certificate testca issues unless told otherwise.
var testNow = testca.Now()
