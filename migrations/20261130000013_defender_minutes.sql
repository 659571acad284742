-- What the Defenders page draws: per minute and family, the defenders connected at the end of the
-- minute and the events stored during it. A minute with no row had none (the console was down or
-- nothing was connected). Kept 25 hours (the charts show 24).
CREATE TABLE defender_minutes (
    -- Unix milliseconds of the minute's start.
    minute INTEGER NOT NULL,
    family TEXT NOT NULL,
    connected INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (minute, family)
) WITHOUT ROWID;
