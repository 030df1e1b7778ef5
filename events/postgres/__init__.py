"""The event store on PostgreSQL (through asyncpg), for several Switchboard processes sharing one log."""
