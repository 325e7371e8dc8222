package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"tether/connectors/email/mailsink"
)

// mailSummary is one received email without its body (the body holds a Join link).
type mailSummary struct {
	To        []string `json:"to"`
	Subject   string   `json:"subject"`
	MessageID string   `json:"message_id"`
}

func runMailsink(args []string) error {
	fs := flag.NewFlagSet("mailsink", flag.ExitOnError)
	portFile := fs.String("port-file", "", "write the SMTP port here once listening")
	httpAddr := fs.String("http", "127.0.0.1:0", "address of GET /messages")
	_ = fs.Parse(args)
	sink, err := mailsink.Start()
	if err != nil {
		return err
	}
	defer sink.Close()
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("--http %s: %w", *httpAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /messages", func(w http.ResponseWriter, _ *http.Request) {
		msgs := sink.Messages()
		out := make([]mailSummary, len(msgs))
		for i, m := range msgs {
			out[i] = mailSummary{To: m.To, Subject: m.Subject, MessageID: m.MessageID}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	go func() { _ = http.Serve(ln, mux) }()
	if *portFile != "" {
		line := strconv.Itoa(sink.Port()) + " " + ln.Addr().String() + "\n"
		if err := os.WriteFile(*portFile, []byte(line), 0o600); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// runProxy copies bytes between clients and --to. Killing the process cuts every
// connection at once, which is the point.
func runProxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	to := fs.String("to", "127.0.0.1:5432", "address to forward to")
	_ = fs.Parse(args)
	var ln net.Listener
	var err error
	// The old process's port can linger briefly after a kill: retry for a few seconds.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", *listen); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", *to, 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			go pipe(up, c)
			go pipe(c, up)
			wg.Wait()
		}()
	}
}
