// Command standin holds the compiled programs of the CRI validation suite's stand-in images
// (cri-images.sh builds it with Debian's Go, static, and installs it under several names). What
// it does depends on the name it was started under:
//
//	pause   sleeps until SIGTERM or SIGINT, then exits 0; reaps the children it inherits. Says
//	        "pause: waiting for SIGTERM or SIGINT" on stderr when it is ready for them.
//	nnp     prints "Effective uid: N" (installed setuid root: the no_new_privs check).
//	nginx   the web-server images: reads `listen PORT;` and `root DIR;` from
//	        /etc/nginx/conf.d/default.conf, re-executes itself so that its command line reads
//	        "nginx: master process ..." (the suite looks for that in /proc/1/cmdline), writes its
//	        pid to /var/run/nginx.pid and runs `busybox httpd` as its worker on that port; on
//	        SIGTERM, SIGINT or SIGQUIT it stops the worker, removes the pid file and exits 0.
//
// Only the standard library; no cgo.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	name := filepath.Base(os.Args[0])
	switch {
	case strings.HasPrefix(os.Args[0], masterName):
		nginxMaster()
	case name == "pause":
		pause()
	case name == "nnp":
		fmt.Printf("Effective uid: %d\n", syscall.Geteuid())
	case name == "nginx":
		nginx()
	default:
		fmt.Fprintf(os.Stderr, "standin: unknown name %q (pause, nnp or nginx)\n", name)
		os.Exit(2)
	}
}

func pause() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	// Said once the handlers are in place: as a pid namespace's init, a signal that came before
	// would have been ignored.
	fmt.Fprintln(os.Stderr, "pause: waiting for SIGTERM or SIGINT")
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down on %v\n", s)
		os.Exit(0)
	}
}

func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

const (
	nginxConf  = "/etc/nginx/conf.d/default.conf"
	nginxPid   = "/var/run/nginx.pid"
	masterName = "nginx: master process"
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "nginx: "+format+"\n", a...)
	os.Exit(1)
}

// nginxConfig reads the first `listen` and `root` directives of the server block.
func nginxConfig() (port int, root string) {
	port, root = 80, "/usr/share/nginx/html"
	f, err := os.Open(nginxConf)
	if err != nil {
		die("%v", err)
	}
	defer f.Close()
	seenListen, seenRoot := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimSuffix(strings.TrimSpace(sc.Text()), ";"))
		if len(fields) != 2 {
			continue
		}
		switch {
		case fields[0] == "listen" && !seenListen:
			p, err := strconv.Atoi(fields[1])
			if err != nil || p <= 0 || p > 65535 {
				die("%s: bad listen %q", nginxConf, fields[1])
			}
			port, seenListen = p, true
		case fields[0] == "root" && !seenRoot:
			root, seenRoot = fields[1], true
		}
	}
	return port, root
}

// nginx becomes the master under nginx's own process title. The executable stays the same file
// (/usr/sbin/nginx), so the process name (comm) stays "nginx" for pidof.
func nginx() {
	self, err := os.Executable()
	if err != nil {
		die("%v", err)
	}
	title := strings.Join(append([]string{masterName, "nginx"}, os.Args[1:]...), " ")
	if err := syscall.Exec(self, []string{title}, os.Environ()); err != nil {
		die("exec %s: %v", self, err)
	}
}

func nginxMaster() {
	port, root := nginxConfig()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	worker := exec.Command("/bin/busybox", "httpd", "-f", "-p", strconv.Itoa(port), "-h", root)
	worker.Stdout, worker.Stderr = os.Stdout, os.Stderr
	if err := worker.Start(); err != nil {
		die("start worker: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(nginxPid), 0o755); err != nil {
		die("%v", err)
	}
	if err := os.WriteFile(nginxPid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		die("%v", err)
	}
	fmt.Fprintf(os.Stderr, "nginx: master %d, worker %d serving %s on port %d\n", os.Getpid(), worker.Process.Pid, root, port)
	done := make(chan error, 1)
	go func() { done <- worker.Wait() }()
	select {
	case s := <-sigs:
		_ = worker.Process.Signal(syscall.SIGTERM)
		<-done
		_ = os.Remove(nginxPid)
		fmt.Fprintf(os.Stderr, "nginx: exiting on %v\n", s)
		os.Exit(0)
	case err := <-done:
		_ = os.Remove(nginxPid)
		die("worker ended: %v", err)
	}
}
