# The nspawn engine's last step of an app's launch (docs/stage1.md, "The nspawn engine"), run by
# the app's launch.sh inside the container, in the app's mount namespace, with an empty environment:
#
#   perl launch.pl NR ROOT WD UID GID GROUPS BOUNDING NNP BPF ENV... -- ARGV...
#
# NR: the system call numbers prctl,capset,setresuid,setresgid,setgroups of this architecture;
# GROUPS and BOUNDING: comma-separated (capability numbers for BOUNDING); NNP: 1 for
# no_new_privileges; BPF: a file holding the app's compiled classic-BPF seccomp program, or ''.
# ENV: the app's NAME=VALUE pairs. It reads what it needs from the container, chroots into ROOT,
# goes to WD, sets the groups and gid, drops the bounding set to BOUNDING, sets the uid, gives a
# root app BOUNDING as its effective and permitted sets (a non-root app none; no inheritable or
# ambient capability), sets no_new_privs and loads the filter, and execs ARGV[0] (looked up in the
# app's PATH): the same process, as the oci runtimes leave it. The capability steps come after the
# chroot, which needs CAP_SYS_CHROOT, and the filter last (before the uid and capability changes
# for a root app without no_new_privs, whose loading needs CAP_SYS_ADMIN), so that neither the
# capabilities nor the filter the app is given can stop its own launch. Only built-in functions
# are used: nothing is loaded after the chroot. Perl is Debian's perl-base (essential).
my ($nr, $root, $wd, $uid, $gid, $groups, $bounding, $nnp, $bpf) = splice(@ARGV, 0, 9);
my @env;
push @env, shift @ARGV while @ARGV && $ARGV[0] ne '--';
shift @ARGV;

sub fail { print STDERR "rkt: $_[0]\n"; exit 254; }

# syscall() passes a number only for a scalar that holds one, a string's address otherwise.
my ($PRCTL, $CAPSET, $SETRESUID, $SETRESGID, $SETGROUPS) = map { 0 + $_ } split /,/, $nr;
$uid = 0 + $uid;
$gid = 0 + $gid;
@ARGV > 0 or fail('launch.pl: no command');
my %keep = map { $_ => 1 } grep { $_ ne '' } split /,/, $bounding;
my @groups = grep { $_ ne '' } split /,/, $groups;

open(my $fh, '<', '/proc/sys/kernel/cap_last_cap') or fail("cannot read cap_last_cap: $!");
my $last = <$fh>;
close $fh;
chomp $last;

# The capabilities this process may give (its permitted set): the container's bounding set.
my @permitted = (0, 0);
open($fh, '<', '/proc/self/status') or fail("cannot read /proc/self/status: $!");
while (<$fh>) {
    @permitted = (hex(substr($1, 8, 8)), hex(substr($1, 0, 8))) if /^CapPrm:\s*([0-9a-f]{16})/;
}
close $fh;
my @mask = (0, 0);
for my $c (keys %keep) {
    $mask[$c >> 5] |= 1 << ($c & 31) if $c <= $last;
}
$mask[$_] &= $permitted[$_] for 0, 1;

my $prog = '';
if ($bpf ne '') {
    open(my $b, '<:raw', $bpf) or fail("cannot read the seccomp filter $bpf: $!");
    local $/;
    $prog = <$b>;
    close $b;
    (length($prog) > 0 && length($prog) % 8 == 0) or fail("$bpf is not a seccomp program");
}

sub load_filter {
    my $fprog = pack('S x![p] p', length($prog) / 8, $prog);
    # prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog)
    syscall($PRCTL, 22, 2, $fprog, 0, 0) == 0 or fail("cannot load the app's seccomp filter: $!");
}

chroot($root) or fail("cannot chroot to $root: $!");
chdir($wd) or fail("cannot enter the working directory $wd: $!");

my $g = pack('L*', @groups);
syscall($SETGROUPS, scalar(@groups), @groups ? $g : 0) == 0 or fail("cannot set the groups: $!");
syscall($SETRESGID, $gid, $gid, $gid) == 0 or fail("cannot set gid $gid: $!");
# prctl(PR_SET_NO_NEW_PRIVS, 1)
if ($nnp) { syscall($PRCTL, 38, 1, 0, 0, 0) == 0 or fail("cannot set no_new_privs: $!"); }
# prctl(PR_CAPBSET_DROP, c) for every capability outside the app's set
for my $c (0 .. $last) {
    next if $keep{$c};
    syscall($PRCTL, 24, $c, 0, 0, 0) == 0 or fail("cannot drop capability $c from the bounding set: $!");
}
# prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
syscall($PRCTL, 47, 4, 0, 0, 0);
load_filter() if $prog ne '' && !$nnp;
if ($uid != 0) {
    # From uid 0 to another, the kernel clears the permitted and effective sets.
    syscall($SETRESUID, $uid, $uid, $uid) == 0 or fail("cannot set uid $uid: $!");
    @mask = (0, 0);
}
# capset(_LINUX_CAPABILITY_VERSION_3): effective and permitted, no inheritable
my $hdr = pack('LL', 0x20080522, 0);
my $data = pack('LLLLLL', $mask[0], $mask[0], 0, $mask[1], $mask[1], 0);
syscall($CAPSET, $hdr, $data) == 0 or fail("cannot set the capabilities: $!");
load_filter() if $prog ne '' && $nnp;

%ENV = ();
for (@env) {
    my ($k, $v) = split /=/, $_, 2;
    $ENV{$k} = $v;
}
{ exec { $ARGV[0] } @ARGV; }
my $err = $!;
print STDERR "rkt: cannot run $ARGV[0]: $err\n";
exit($err + 0 == 2 ? 127 : 126);
