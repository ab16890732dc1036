package txtrec

import "testing"

func TestOne(t *testing.T) {
	isV := func(s string) bool { return len(s) > 0 && s[0] == 'v' }
	for _, tc := range []struct {
		txts []string
		rec  string
		n    int
	}{
		{nil, "", 0},
		{[]string{"x", "y"}, "", 0},
		{[]string{"x", "v1"}, "v1", 1},
		{[]string{"v1", "x", "v2", "v3"}, "", 2},
	} {
		if rec, n := One(tc.txts, isV); rec != tc.rec || n != tc.n {
			t.Errorf("One(%q) = %q, %d; want %q, %d", tc.txts, rec, n, tc.rec, tc.n)
		}
	}
}

func TestExtGrammar(t *testing.T) {
	for s, want := range map[string]bool{"a": true, "a_b-c.d": true, "_a": false, "": false,
		"abcdefghijklmnopqrstuvwxyz012345": true, "abcdefghijklmnopqrstuvwxyz0123456": false} {
		if IsExtName(s) != want || IsExtName([]byte(s)) != want {
			t.Errorf("IsExtName(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"x": true, "a:b/c": true, "": false, "a=b": false, "a;b": false, "a b": false, "\x7f": false} {
		if IsExtValue(s) != want {
			t.Errorf("IsExtValue(%q) != %v", s, want)
		}
	}
	if TrimWSP(" \t x ") != "x " {
		t.Error("TrimWSP")
	}
}

func TestBegins(t *testing.T) {
	for _, tc := range []struct {
		s               string
		delimited, bare bool
	}{
		{"v=STSv1", false, true},
		{"v=STSv1;", true, false},
		{"v=STSv1 \t; id=a", true, false},
		{"v=STSv1 \t", false, true},
		{"v=STSv1 x", false, false},
		{"v=STSv10;", false, false},
		{"v=STS", false, false},
	} {
		if d, b := Begins(tc.s, "v=STSv1"); d != tc.delimited || b != tc.bare {
			t.Errorf("Begins(%q) = %v, %v", tc.s, d, b)
		}
	}
}
