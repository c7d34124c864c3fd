#include <string.h>
#include <talloc.h>

#include "store/journal.h"

#define BATCH_HEADER_SIZE 16
/* A rewrite hands over records in batches of about this size. */
#define REWRITE_BATCH_BYTES (1024 * 1024)
/*
 * Compaction: once the batches since the last rewrite exceed twice what
 * that rewrite wrote, plus this, the file is written afresh (so a long
 * run's file stays within a few times the live state, and a restart
 * replays that much).
 */
#define REWRITE_SLACK_BYTES (64 * 1024 * 1024)

struct journal {
	struct journal_sink sink;
	unsigned int depth;
	/* The batch being noted: header room, then operations. */
	unsigned char *buf;
	size_t len, size;
	bool failed;		/* out of memory noting this batch */
	bool broken;		/* the file was abandoned */
	uint64_t bytes_since_rewrite;
	uint64_t rewrite_bytes;
};

struct journal *journal_new(void *ctx, const struct journal_sink *sink)
{
	struct journal *journal = talloc_zero(ctx, struct journal);

	if (!journal)
		return NULL;
	journal->sink = *sink;
	journal->len = BATCH_HEADER_SIZE;
	return journal;
}

static bool reserve(struct journal *journal, size_t more)
{
	size_t want = journal->len + more, size = journal->size;
	unsigned char *grown;

	if (want <= size)
		return true;
	if (size < 4096)
		size = 4096;
	while (size < want)
		size *= 2;
	grown = talloc_realloc_size(journal, journal->buf, size);
	if (!grown)
		return false;
	journal->buf = grown;
	journal->size = size;
	return true;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void note(struct journal *journal, TDB_DATA key, const TDB_DATA *parts,
		 int count)
{
	size_t data_len = 0;
	unsigned char *p;
	int i;

	if (journal->broken || journal->failed)
		return;
	for (i = 0; i < count; i++)
		data_len += parts[i].dsize;
	if (data_len >= JOURNAL_DELETE ||
	    !reserve(journal, 8 + key.dsize + data_len)) {
		journal->failed = true;
		return;
	}
	p = journal->buf + journal->len;
	put_u32(p, (uint32_t)key.dsize);
	put_u32(p + 4, parts ? (uint32_t)data_len : JOURNAL_DELETE);
	p += 8;
	memcpy(p, key.dptr, key.dsize);
	p += key.dsize;
	for (i = 0; i < count; i++) {
		if (parts[i].dsize)
			memcpy(p, parts[i].dptr, parts[i].dsize);
		p += parts[i].dsize;
	}
	journal->len = (size_t)(p - journal->buf);
}

static void abandon(struct journal *journal, const char *why)
{
	if (journal->broken)
		return;
	journal->broken = true;
	journal->sink.abandon(journal->sink.arg, why);
	talloc_free(journal->buf);
	journal->buf = NULL;
	journal->size = 0;
	journal->len = BATCH_HEADER_SIZE;
}

/* Hand the noted batch over; false if the sink failed. */
static bool hand_over(struct journal *journal)
{
	size_t payload = journal->len - BATCH_HEADER_SIZE;
	TDB_DATA data;
	bool ok;

	if (!payload)
		return true;
	data = (TDB_DATA){ journal->buf + BATCH_HEADER_SIZE, payload };
	put_u32(journal->buf, JOURNAL_MAGIC);
	put_u32(journal->buf + 4, (uint32_t)payload);
	put_u32(journal->buf + 8, tdb_jenkins_hash(&data));
	put_u32(journal->buf + 12, 0);
	ok = journal->sink.append(journal->sink.arg, journal->buf,
				  journal->len);
	if (ok)
		journal->bytes_since_rewrite += journal->len;
	journal->len = BATCH_HEADER_SIZE;
	return ok;
}

void journal_begin(struct journal *journal)
{
	if (journal)
		journal->depth++;
}

void journal_end(struct journal *journal, struct kv *kv)
{
	if (!journal || --journal->depth || journal->broken)
		return;
	if (journal->failed) {
		journal->failed = false;
		abandon(journal, "out of memory noting a change");
		return;
	}
	if (!hand_over(journal)) {
		abandon(journal, "cannot write the state file");
		return;
	}
	if (journal->bytes_since_rewrite >
	    2 * journal->rewrite_bytes + REWRITE_SLACK_BYTES &&
	    !journal_rewrite(journal, kv))
		abandon(journal, "cannot write the state file afresh");
}

int journal_storev(struct journal *journal, struct kv *kv,
		   TDB_DATA key, const TDB_DATA *parts, int count)
{
	int ret = kv_storev(kv, key, parts, count);

	if (journal && ret == 0) {
		journal_begin(journal);
		note(journal, key, parts, count);
		journal_end(journal, kv);
	}
	return ret;
}

int journal_delete(struct journal *journal, struct kv *kv,
		   TDB_DATA key)
{
	int ret = kv_delete(kv, key);

	if (journal && ret == 0) {
		journal_begin(journal);
		note(journal, key, NULL, 0);
		journal_end(journal, kv);
	}
	return ret;
}

static int rewrite_record(TDB_DATA key, TDB_DATA data, void *private_data)
{
	struct journal *journal = private_data;

	note(journal, key, &data, 1);
	if (journal->failed)
		return -1;
	if (journal->len >= REWRITE_BATCH_BYTES && !hand_over(journal))
		return -1;
	return 0;
}

bool journal_rewrite(struct journal *journal, struct kv *kv)
{
	bool ok;

	if (journal->broken)
		return false;
	if (!journal->sink.rewrite_begin(journal->sink.arg))
		return false;
	journal->bytes_since_rewrite = 0;
	journal->len = BATCH_HEADER_SIZE;
	ok = kv_traverse(kv, rewrite_record, journal) >= 0 &&
	     !journal->failed && hand_over(journal);
	journal->failed = false;
	journal->len = BATCH_HEADER_SIZE;
	ok = journal->sink.rewrite_end(journal->sink.arg) && ok;
	journal->rewrite_bytes = journal->bytes_since_rewrite;
	journal->bytes_since_rewrite = 0;
	return ok;
}

uint64_t journal_bytes(const struct journal *journal)
{
	return journal->bytes_since_rewrite;
}

/* Apply one batch's operations; false if they do not parse. */
static bool replay_batch(struct kv *kv, const unsigned char *p,
			 size_t len)
{
	while (len) {
		uint32_t key_len, data_len;
		TDB_DATA key, data;

		if (len < 8)
			return false;
		key_len = get_u32(p);
		data_len = get_u32(p + 4);
		p += 8;
		len -= 8;
		if (key_len > len ||
		    (data_len != JOURNAL_DELETE && data_len > len - key_len))
			return false;
		key = (TDB_DATA){ (unsigned char *)p, key_len };
		p += key_len;
		len -= key_len;
		if (data_len == JOURNAL_DELETE) {
			kv_delete(kv, key);
			continue;
		}
		data = (TDB_DATA){ (unsigned char *)p, data_len };
		if (kv_storev(kv, key, &data, 1) != 0)
			return false;
		p += data_len;
		len -= data_len;
	}
	return true;
}

size_t journal_replay(struct kv *kv, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t done = 0;

	while (len - done >= BATCH_HEADER_SIZE) {
		uint32_t payload = get_u32(p + done + 4);
		TDB_DATA data = { (unsigned char *)p + done + BATCH_HEADER_SIZE,
				  payload };

		if (get_u32(p + done) != JOURNAL_MAGIC ||
		    payload > len - done - BATCH_HEADER_SIZE ||
		    tdb_jenkins_hash(&data) != get_u32(p + done + 8))
			break;
		/* A batch that hashes right but does not parse was written
		 * so: stop there too. */
		if (!replay_batch(kv, data.dptr, payload))
			break;
		done += BATCH_HEADER_SIZE + payload;
	}
	return done;
}
