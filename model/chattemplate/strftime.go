package chattemplate

import (
	"fmt"
	"strings"
	"time"
)

// strftimeLayouts are the C strftime directives templates use, as Go
// layouts.
var strftimeLayouts = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'b': "Jan", 'B': "January",
	'a': "Mon", 'A': "Monday", 'H': "15", 'I': "03", 'M': "04", 'S': "05", 'p': "PM",
}

// strftime formats t as Python's datetime.strftime(format) does for the
// directives above and %%; others are an error.
func strftime(t time.Time, format string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(format) {
			return "", fmt.Errorf("strftime_now: format %q ends with %%", format)
		}
		i++
		if format[i] == '%' {
			b.WriteByte('%')
			continue
		}
		layout, ok := strftimeLayouts[format[i]]
		if !ok {
			return "", fmt.Errorf("strftime_now: directive %%%c is not supported", format[i])
		}
		b.WriteString(t.Format(layout))
	}
	return b.String(), nil
}
