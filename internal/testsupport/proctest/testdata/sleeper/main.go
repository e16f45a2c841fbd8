// Command sleeper is the process the proctest tests run: it prints "ready" and waits for
// SIGTERM, on which it prints "stopping" and exits 0; with -ignore-term it ignores SIGTERM and
// waits for SIGKILL.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ignore := flag.Bool("ignore-term", false, "ignore SIGTERM")
	flag.Parse()
	if *ignore {
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		for {
			time.Sleep(time.Hour)
		}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	fmt.Println("ready")
	<-c
	fmt.Println("stopping")
}
