package cab_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aikwatch/aikwatch/internal/cab"
	"github.com/aikwatch/aikwatch/internal/testutil"
)

func ExampleCabinet_Walk() {
	f, err := os.Open(testutil.NovCab)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	c, err := cab.Open(f, st.Size(), cab.DefaultLimits())
	if err != nil {
		panic(err)
	}
	var files, bytes int64
	err = c.Walk(context.Background(), func(m cab.Member, r io.Reader) error {
		n, err := io.Copy(io.Discard, r)
		files++
		bytes += n
		return err
	})
	fmt.Println(files, bytes, err)
	fmt.Println(c.Header().Size, len(c.Header().Reserve))
	// Output:
	// 2193 5017464 <nil>
	// 2508387 20
}
