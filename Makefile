# aval - one Makefile, no recursion.
#
#   make                      build everything into $(O) (default build/)
#   make check                unit + integration tests, then the same under
#                             AddressSanitizer/UBSan in build/asan
#   make SANITIZE=address,undefined O=build/asan check-plain
#   make run                  start avald in the foreground on the embedded
#                             development default
#   make install PREFIX=/usr/local DESTDIR=
#   make V=1                  show full commands

O		?= build
VERSION		 = 0.1.0
PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
BINDIR		?= $(PREFIX)/bin
LIBEXECDIR	?= $(PREFIX)/libexec/aval
SYSCONFDIR	?= /etc/aval
MANDIR		?= $(PREFIX)/share/man
DESTDIR		?=

PKGS		 = libevent libevent_openssl libssl libcrypto libcurl
WARN		 = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Wpointer-arith -Wcast-qual \
		   -Wwrite-strings -Wvla -Wformat=2
CFLAGS		?= -O2 -g
ALL_CFLAGS	 = -std=c11 -D_GNU_SOURCE -I. -I$(O) -MMD -MP $(WARN) \
		   $(shell pkg-config --cflags $(PKGS)) \
		   -DAVAL_LIBEXECDIR='"$(LIBEXECDIR)"' \
		   -DAVAL_SYSCONFDIR='"$(SYSCONFDIR)"' \
		   -DAVAL_VERSION='"$(VERSION)"' $(CFLAGS)
ALL_LDFLAGS	 = $(LDFLAGS)
ifdef SANITIZE
ALL_CFLAGS	+= -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
ALL_LDFLAGS	+= -fsanitize=$(SANITIZE)
endif

EVENT_LIBS	 = $(shell pkg-config --libs libevent)
CRYPTO_LIBS	 = $(shell pkg-config --libs libcrypto)
TLS_LIBS	 = $(shell pkg-config --libs libevent_openssl libssl libcrypto)
CHECK_CFLAGS	 = $(shell pkg-config --cflags check)
CHECK_LIBS	 = $(shell pkg-config --libs check)
DB_LIBS		?= -ldb-5.3		# libdb5.3-dev ships no .pc file
CRYPT_LIBS	?= -lcrypt		# libcrypt-dev (libxcrypt): common/passwd.c
# libunbound-dev ships libunbound.pc (its Requires.private names libevent,
# nettle and hogweed, needed only for static links): common/dnsctx.c, for
# deliver_dns.c and common/dnswl.c
UNBOUND_LIBS	 = $(shell pkg-config --libs libunbound)
# libcurl4-openssl-dev: common/fedfetch.c, the master's fetch of the
# federation bundle. Only avald and the unit runner link it; the rest take
# from libcommon.a no object that needs it (fedfetch_url.c needs none).
CURL_LIBS	 = $(shell pkg-config --libs libcurl)

ifeq ($(V),1)
Q		 =
else
Q		 = @
endif

# --- sources ---------------------------------------------------------------

CONF_Y		 = common/conf_parse.y
CONF_C		 = $(O)/common/conf_parse.c
COMMON_SRCS	 = $(filter-out common/conf_parse.c,$(wildcard common/*.c))
COMMON_OBJS	 = $(COMMON_SRCS:%.c=$(O)/%.o) $(O)/common/conf_parse.o
COMMON		 = $(O)/libcommon.a

MASTER_SRCS	 = $(wildcard master/*.c) smtpd/smtpd_limit.c
SMTPD_SRCS	 = $(wildcard smtpd/*.c)
QUEUE_SRCS	 = $(wildcard queue/*.c)
DELIVER_SRCS	 = $(wildcard deliver/*.c)
# aval-local shares deliver's job intake, job and body reader, and its
# client in LMTP mode for a local store's unix socket (policy none: the
# TLS code is linked, never used); no DNS, and no network to use.
LOCAL_SRCS	 = $(wildcard local/*.c) deliver/deliver_intake.c \
		   deliver/deliver_job.c deliver/deliver_body.c \
		   deliver/deliver_session.c deliver/deliver_reply.c \
		   deliver/deliver_cache.c deliver/deliver_tlscache.c \
		   deliver/deliver_tls.c deliver/deliver_dns_name.c
AVALCTL_SRCS	 = tools/avalctl.c
SENDMAIL_SRCS	 = tools/sendmail.c tools/sendmail_msg.c
BENCH_SRCS	 = $(wildcard bench/*.c)
# aval-ca, the federation operator's tool; the bundle reader it shares with
# the MTA is common/fedbundle.c.
AVALCA_SRCS	 = $(wildcard federation/*.c)
UNIT_SRCS	 = $(wildcard tests/unit/*.c)
FUZZ_SRCS	 = $(wildcard tests/fuzz/*.c)

MASTER_OBJS	 = $(MASTER_SRCS:%.c=$(O)/%.o)
SMTPD_OBJS	 = $(SMTPD_SRCS:%.c=$(O)/%.o)
QUEUE_OBJS	 = $(QUEUE_SRCS:%.c=$(O)/%.o)
DELIVER_OBJS	 = $(DELIVER_SRCS:%.c=$(O)/%.o)
LOCAL_OBJS	 = $(LOCAL_SRCS:%.c=$(O)/%.o)
AVALCTL_OBJS	 = $(AVALCTL_SRCS:%.c=$(O)/%.o)
SENDMAIL_OBJS	 = $(SENDMAIL_SRCS:%.c=$(O)/%.o)
UNIT_OBJS	 = $(UNIT_SRCS:%.c=$(O)/%.o)
AVALCA_OBJS	 = $(AVALCA_SRCS:%.c=$(O)/%.o)

# The unit runner links the process modules that stand alone: those that
# need no process globals (the file with main() and what leans on it).
UNIT_LINK	 = $(O)/master/master_backoff.o \
		   $(O)/master/master_fedhealth.o \
		   $(O)/smtpd/smtpd_cmd.o $(O)/smtpd/smtpd_limit.o \
		   $(O)/smtpd/smtpd_data.o \
		   $(O)/smtpd/smtpd_auth.o \
		   $(O)/queue/queue_rec.o \
		   $(O)/queue/queue_store.o $(O)/queue/bodyfile.o \
		   $(O)/queue/sched.o \
		   $(O)/queue/window.o \
		   $(O)/queue/queue_dsn.o \
		   $(O)/queue/tlsstore.o \
		   $(O)/tools/sendmail_msg.o \
		   $(O)/queue/route.o \
		   $(O)/local/local_maildir.o \
		   $(filter-out $(O)/deliver/deliver.o \
		   $(O)/deliver/deliver_intake.o,$(DELIVER_OBJS))

BENCH_BINS	 = $(BENCH_SRCS:bench/%.c=$(O)/%)
PROGS		 = $(O)/avald $(O)/aval-smtpd $(O)/aval-queue $(O)/aval-deliver \
		   $(O)/aval-local \
		   $(O)/avalctl $(O)/sendmail $(O)/mailq $(O)/aval-ca \
		   $(BENCH_BINS)
UNIT_RUNNER	 = $(O)/check_aval
# Drivers the integration tests run, built for them and not installed.
TEST_PROGS	 = $(O)/dsn-compose $(O)/dnswl-lookup
TEST_OBJS	 = $(O)/tests/integ/dsn_compose.o $(O)/tests/integ/dnswl_lookup.o

ALL_OBJS	 = $(COMMON_OBJS) $(MASTER_OBJS) $(SMTPD_OBJS) $(QUEUE_OBJS) \
		   $(DELIVER_OBJS) $(O)/local/local.o $(O)/local/local_maildir.o \
		   $(AVALCTL_OBJS) $(SENDMAIL_OBJS) $(UNIT_OBJS) $(TEST_OBJS) \
		   $(AVALCA_OBJS) \
		   $(BENCH_SRCS:%.c=$(O)/%.o)

.PHONY: all check check-plain check-unit check-integ run install clean \
	deps lint fuzz
.DELETE_ON_ERROR:

all: $(PROGS)

# --- compile and link ------------------------------------------------------

$(O)/%.o: %.c | $(CONF_C)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/tests/unit/%.o: tests/unit/%.c | $(CONF_C)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

# The generated parser is not held to -Wextra's unused-parameter rules of
# hand-written code, but it is held to everything else.
$(CONF_C): $(CONF_Y)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BISON   $<")
	$(Q)bison -o $@ $<

$(O)/common/conf_parse.o: $(CONF_C)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(COMMON): $(COMMON_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(O)/avald: $(MASTER_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) \
	    $(shell pkg-config --libs libssl libcrypto) $(CRYPT_LIBS) \
	    $(CURL_LIBS)

# smtpd looks its clients up in the federation's DNS whitelist (dnswl.h).
$(O)/aval-smtpd: $(SMTPD_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TLS_LIBS) $(CRYPT_LIBS) \
	    $(UNBOUND_LIBS)

# Only the queue links Berkeley DB.
$(O)/aval-queue: $(QUEUE_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(CRYPTO_LIBS) $(DB_LIBS)

$(O)/aval-deliver: $(DELIVER_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TLS_LIBS) $(UNBOUND_LIBS)

# No TLS, no resolver: aval-local links libevent and common only.
$(O)/aval-local: $(LOCAL_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(TLS_LIBS)

$(O)/avalctl: $(AVALCTL_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(CRYPTO_LIBS) \
	    $(CRYPT_LIBS)

# sendmail holds no privilege: it speaks SMTP to the local socket.
$(O)/sendmail: $(SENDMAIL_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(CRYPTO_LIBS)

# aval-ca needs only libcrypto: no network, no event loop.
$(O)/aval-ca: $(AVALCA_OBJS) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CRYPTO_LIBS)

# mailq is sendmail under another name (it looks at argv[0]).
$(O)/mailq: $(O)/sendmail
	$(Q)ln -sf sendmail $@

# Keep the bench objects: make would delete them as intermediates.
.SECONDARY: $(BENCH_SRCS:%.c=$(O)/%.o)

$(O)/aval-%: $(O)/bench/aval-%.o $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(TLS_LIBS)

$(UNIT_RUNNER): $(UNIT_OBJS) $(UNIT_LINK) $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(TLS_LIBS) $(DB_LIBS) \
	    $(CRYPT_LIBS) $(UNBOUND_LIBS) $(CURL_LIBS)

# queue_dsn stands alone (no process globals), so its driver links it bare.
$(O)/dsn-compose: $(O)/tests/integ/dsn_compose.o $(O)/queue/queue_dsn.o \
	    $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

# common/dnswl.c in an event loop of its own: libunbound, and libcrypto for
# the member id check it shares with the bundle reader.
$(O)/dnswl-lookup: $(O)/tests/integ/dnswl_lookup.o $(COMMON)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(CRYPTO_LIBS) \
	    $(UNBOUND_LIBS)

# --- tests -----------------------------------------------------------------

# check runs the plain tree, then the sanitizer tree (its own output
# folder), and closes with one line that adds up all four runs.
SUMMARY		 = $(abspath build/check.summary)

# The sanitizer tree's build and unit run go on beside the plain tree's
# tests (they are CPU, the integration tests mostly wait on sockets and
# clocks), its output held back and shown after; its integration tests
# run alone, as they are timed.
ASAN_MAKE	 = $(MAKE) --no-print-directory O=build/asan \
		   SANITIZE=address,undefined

check:
	$(Q)rm -f $(SUMMARY)
	$(Q)mkdir -p build/asan
	$(Q)$(ASAN_MAKE) check-unit > build/asan/unit.log 2>&1 & asan=$$!; \
	    $(MAKE) --no-print-directory check-plain; plain=$$?; \
	    wait $$asan; unit=$$?; \
	    echo "--- the sanitizer tree's build and unit tests:"; \
	    cat build/asan/unit.log; \
	    [ $$plain -eq 0 ] && [ $$unit -eq 0 ]
	$(Q)$(ASAN_MAKE) check-integ
	$(Q)awk '{ p += $$1; f += $$2 } END { printf "check: %d passed, %d failed\n", p, f; exit f != 0 }' $(SUMMARY)

check-plain: check-unit check-integ

check-unit: $(UNIT_RUNNER)
	$(Q)CK_DEFAULT_TIMEOUT=60 CK_TAP_LOG_FILE_NAME=$(O)/unit.tap \
	    AVAL_TEST_SRCDIR=$(CURDIR) AVAL_SUMMARY=$(SUMMARY) $(UNIT_RUNNER)

check-integ: all $(TEST_PROGS)
	$(Q)AVAL_BUILD=$(abspath $(O)) AVAL_SANITIZE=$(SANITIZE) \
	    AVAL_SUMMARY=$(SUMMARY) python3 tests/integ/run.py

run: all
	$(O)/avald -d

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(O)/avald $(DESTDIR)$(SBINDIR)/avald
	install -m 0755 $(O)/avalctl $(DESTDIR)$(SBINDIR)/avalctl
	install -m 0755 $(O)/sendmail $(DESTDIR)$(SBINDIR)/sendmail
	install -m 0755 $(O)/aval-ca $(DESTDIR)$(BINDIR)/aval-ca
	install -m 0755 tools/aval-fed-postfix $(DESTDIR)$(BINDIR)/aval-fed-postfix
	ln -sf $(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/mailq
	install -m 0755 $(O)/aval-smtpd $(O)/aval-queue $(O)/aval-deliver \
	    $(O)/aval-local $(DESTDIR)$(LIBEXECDIR)/
	test -e $(DESTDIR)$(SYSCONFDIR)/aval.conf || \
	    install -m 0644 etc/aval.conf $(DESTDIR)$(SYSCONFDIR)/aval.conf

# libFuzzer targets (clang), one per parser; each names what it links on its
# " * link:" line. Run one with: $(O)/fuzz/fuzz_addr -max_total_time=60
FUZZ_CC		?= clang
FUZZ_CFLAGS	 = -std=c11 -D_GNU_SOURCE -I. -I$(O) -g -O1 \
		   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz: $(CONF_C)
	@mkdir -p $(O)/fuzz
	$(Q)for t in $(FUZZ_SRCS); do \
	    n=$$(basename $$t .c); \
	    srcs=$$(sed -n 's/^ \* link: //p' $$t | sed 's|build/|$(O)/|g'); \
	    echo "  FUZZ    $$n"; \
	    $(FUZZ_CC) $(FUZZ_CFLAGS) -o $(O)/fuzz/$$n $$t $$srcs || exit 1; \
	done

# cppcheck does not read system headers; give it the TAILQ macros.
lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 -I. \
	    --include=/usr/include/$(shell gcc -dumpmachine)/sys/queue.h \
	    --suppress=missingIncludeSystem common master smtpd queue deliver local \
	    tools bench federation

clean:
	rm -rf build

-include $(ALL_OBJS:.o=.d)
