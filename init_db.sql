-- =====================================================================================
-- Johannesburg hospital warehouse: schema v1
--
-- One source of truth for the database. `make up` applies it to the local cluster;
-- docker-compose.yml mounts it into /docker-entrypoint-initdb.d. Applying it twice is
-- harmless: every statement is CREATE ... IF NOT EXISTS, CREATE OR REPLACE, or guarded.
-- Runs on PostgreSQL 15 and newer. Apply as a superuser (or the database owner):
--     psql -v ON_ERROR_STOP=1 -d hospital -f init_db.sql     (or: hospital services up)
--
-- Schemas
--   reference  facilities, departments, specialities, wards (with beds), ICD-10 codes
--   core       people, patients, staff (with history), doctors, shift assignments
--   stream     patient transfers from Kafka: current state and full event history
--   clinical   patient records from batch files, partitioned by day (rolling 9 days)
--   ops        file ledger, rejected rows, quarantined events, consumer offsets, run state,
--              dropped day partitions
--   analytics  read-only views for analysts; personal identifiers masked, identities keyed
--   private    the pseudonym key; only the owner can read it
--
-- Roles (created NOLOGIN here; `make up` or the compose init script sets passwords)
--   hospital_ingest   what the pipeline writes as: DML only, no DDL; adds to the audit trail
--                     (ledger, rejected rows, quarantined events) but cannot rewrite it
--   hospital_analyst  read-only, and only through the analytics schema and reference data
-- =====================================================================================


-- ---------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hospital_ingest') THEN
        CREATE ROLE hospital_ingest NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hospital_analyst') THEN
        CREATE ROLE hospital_analyst NOLOGIN;
    END IF;
END
$$;

ALTER ROLE hospital_analyst SET default_transaction_read_only = on;

-- btree_gist: lets the file ledger's exclusion constraint compare a text column (the record
-- kind) alongside id ranges. Part of PostgreSQL's contrib, trusted since PostgreSQL 13.
CREATE EXTENSION IF NOT EXISTS btree_gist;
-- pgcrypto: hmac() and gen_random_bytes() for the keyed pseudonyms of analytics.person.
-- Also contrib and trusted.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE SCHEMA IF NOT EXISTS reference;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS stream;
CREATE SCHEMA IF NOT EXISTS clinical;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS private;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- reference
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS reference.facility (
    facility_code   text        NOT NULL,
    facility_name   text        NOT NULL,
    facility_type   text        NOT NULL,
    city            text        NOT NULL,
    province        text        NOT NULL,
    CONSTRAINT pk_facility PRIMARY KEY (facility_code),
    CONSTRAINT ck_facility_type CHECK (facility_type IN
        ('academic_hospital', 'tertiary_hospital', 'regional_hospital', 'district_hospital',
         'community_health_centre', 'clinic', 'private_hospital'))
);
COMMENT ON TABLE reference.facility IS 'Health facilities: this hospital and the ones patients are transferred to or from.';
COMMENT ON COLUMN reference.facility.facility_code IS 'Short stable code, for example CHBAH.';
COMMENT ON COLUMN reference.facility.facility_type IS 'Level of care in the South African public system, or private.';
COMMENT ON COLUMN reference.facility.facility_name IS 'Full name, for example Chris Hani Baragwanath Academic Hospital.';
COMMENT ON COLUMN reference.facility.city IS 'City or metropolitan municipality, for example Johannesburg or Ekurhuleni.';
COMMENT ON COLUMN reference.facility.province IS 'Province; all Gauteng at present.';

CREATE TABLE IF NOT EXISTS reference.speciality (
    speciality_code text        NOT NULL,
    speciality_name text        NOT NULL,
    CONSTRAINT pk_speciality PRIMARY KEY (speciality_code)
);
COMMENT ON TABLE reference.speciality IS 'HPCSA-registered medical specialities.';
COMMENT ON COLUMN reference.speciality.speciality_name IS 'Name as the HPCSA register spells it, for example Obstetrics & Gynaecology.';
COMMENT ON COLUMN reference.speciality.speciality_code IS 'Short stable code, for example OBGYN or ANAES.';

CREATE TABLE IF NOT EXISTS reference.department (
    department_code text        NOT NULL,
    department_name text        NOT NULL,
    speciality_code text        NULL,
    CONSTRAINT pk_department PRIMARY KEY (department_code),
    CONSTRAINT fk_department_speciality FOREIGN KEY (speciality_code)
        REFERENCES reference.speciality (speciality_code)
);
COMMENT ON TABLE reference.department IS 'Clinical and support departments of the hospital.';
COMMENT ON COLUMN reference.department.speciality_code IS 'The speciality whose doctors staff it; NULL for non-clinical departments.';
COMMENT ON COLUMN reference.department.department_code IS 'Short stable code, for example MED or EMERG.';
COMMENT ON COLUMN reference.department.department_name IS 'Name as the hospital uses it, for example Anaesthesiology and Critical Care.';

CREATE TABLE IF NOT EXISTS reference.ward (
    ward_code           text    NOT NULL,
    ward_name           text    NOT NULL,
    department_code     text    NOT NULL,
    ward_type           text    NOT NULL,
    bed_count           integer NOT NULL,
    min_doctors_day     integer NOT NULL,
    min_doctors_night   integer NOT NULL,
    min_nurses_day      integer NOT NULL,
    min_nurses_night    integer NOT NULL,
    CONSTRAINT pk_ward PRIMARY KEY (ward_code),
    CONSTRAINT fk_ward_department FOREIGN KEY (department_code)
        REFERENCES reference.department (department_code),
    CONSTRAINT ck_ward_bed_count CHECK (bed_count >= 0),
    CONSTRAINT ck_ward_min_cover CHECK (min_doctors_day >= 0 AND min_doctors_night >= 0
                                        AND min_nurses_day >= 0 AND min_nurses_night >= 0)
);
COMMENT ON TABLE reference.ward IS 'Wards of the hospital with their beds and minimum staffing (nurses per 12-hour shift, doctors by day and after hours).';
COMMENT ON COLUMN reference.ward.ward_type IS 'general, icu, high_care, maternity, neonatal, paediatric, emergency, theatre, psychiatric.';
COMMENT ON COLUMN reference.ward.bed_count IS 'Commissioned beds.';
COMMENT ON COLUMN reference.ward.min_doctors_day IS 'Doctors of the ward''s speciality needed in the daytime: the 08:00-16:00 ordinary shift on weekdays, the 24-hour call on weekends and public holidays.';
COMMENT ON COLUMN reference.ward.min_nurses_night IS 'Nurses needed on the 19:00-07:00 shift (derived from beds).';
COMMENT ON COLUMN reference.ward.ward_code IS 'Short stable code, W followed by two digits, for example W03.';
COMMENT ON COLUMN reference.ward.ward_name IS 'Name on the ward sign, for example Ward 3 - Medical Ward 1.';
COMMENT ON COLUMN reference.ward.department_code IS 'The department the ward belongs to; its speciality staffs the ward.';
COMMENT ON COLUMN reference.ward.min_doctors_night IS 'Doctors of the ward''s speciality needed on call after hours (16:00-08:00 after a weekday, all day on weekends and public holidays).';
COMMENT ON COLUMN reference.ward.min_nurses_day IS 'Nurses needed on the 07:00-19:00 shift (derived from beds).';

CREATE TABLE IF NOT EXISTS reference.icd10_code (
    icd10_code      text        NOT NULL,
    description     text        NOT NULL,
    chapter         text        NOT NULL,
    sex_restriction char(1)     NULL,
    min_age_years   integer     NULL,
    max_age_years   integer     NULL,
    CONSTRAINT pk_icd10_code PRIMARY KEY (icd10_code),
    CONSTRAINT ck_icd10_code_sex CHECK (sex_restriction IN ('F', 'M'))
);
COMMENT ON TABLE reference.icd10_code IS 'WHO ICD-10 codes used in South Africa (not ICD-10-CM).';
COMMENT ON COLUMN reference.icd10_code.icd10_code IS 'Code with its dot, for example O80.0 or S72.0.';
COMMENT ON COLUMN reference.icd10_code.sex_restriction IS 'F or M when the code only fits one sex (O codes: F); NULL otherwise.';
COMMENT ON COLUMN reference.icd10_code.chapter IS 'ICD-10 chapter in Roman numerals, for example XIX.';
COMMENT ON COLUMN reference.icd10_code.description IS 'WHO title of the code, for example Cholera, unspecified.';
COMMENT ON COLUMN reference.icd10_code.min_age_years IS 'Youngest age in whole years the code fits (inclusive); NULL for no lower limit.';
COMMENT ON COLUMN reference.icd10_code.max_age_years IS 'Oldest age in whole years the code fits (inclusive); NULL for no upper limit.';

-- ---------------------------------------------------------------------------
-- core
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS core.person (
    person_id       bigint      NOT NULL,
    sa_id_number    char(13)    NULL,
    first_name      text        NOT NULL,
    last_name       text        NOT NULL,
    sex             char(1)     NOT NULL,
    date_of_birth   date        NOT NULL,
    citizenship     text        NOT NULL,
    passport_number text        NULL,
    passport_country char(3)    NULL,
    phone_number    text        NOT NULL,
    email           text        NULL,
    street_address  text        NOT NULL,
    suburb          text        NOT NULL,
    city            text        NOT NULL,
    province        text        NOT NULL,
    postal_code     char(4)     NOT NULL,
    medical_aid     text        NULL,
    guardian_person_id bigint   NULL,
    CONSTRAINT pk_person PRIMARY KEY (person_id),
    CONSTRAINT ck_person_sex CHECK (sex IN ('F', 'M')),
    CONSTRAINT ck_person_citizenship CHECK (citizenship IN ('citizen', 'permanent_resident', 'foreign_national')),
    CONSTRAINT ck_person_identity CHECK (
        (citizenship IN ('citizen', 'permanent_resident') AND length(sa_id_number) = 13
         AND sa_id_number !~ '[^0-9]')
        OR (citizenship = 'foreign_national' AND sa_id_number IS NULL AND passport_number IS NOT NULL)),
    CONSTRAINT ck_person_passport_country CHECK (
        (passport_country IS NULL) = (passport_number IS NULL)
        AND (passport_country IS NULL OR passport_country ~ '^[A-Z]{3}$')),
    CONSTRAINT ck_person_phone_e164 CHECK (
        length(phone_number) = 12 AND phone_number LIKE '+27%' AND substr(phone_number, 4) !~ '[^0-9]'),
    CONSTRAINT ck_person_postal_code CHECK (length(postal_code) = 4 AND postal_code !~ '[^0-9]'),
    CONSTRAINT ck_person_guardian_not_self CHECK (guardian_person_id <> person_id),
    CONSTRAINT fk_person_guardian FOREIGN KEY (guardian_person_id) REFERENCES core.person (person_id)
);
-- The checks are run on every row of a 5-million-row COPY, so they are written cheaply: "only
-- digits" is a length test and `x !~ '[^0-9]'` (no character that is not a digit). Over 5 million
-- people the three digit tests together cost 4.9 s this way, against 9.1 s as
-- ltrim(x, '0123456789') = '' (which works out each digit's byte length on every call in a UTF-8
-- database) and 14.5 s as the anchored regular expressions first used (^[0-9]{13}$,
-- ^\+27[0-9]{9}$, ^[0-9]{4}$; the bounded repetition is what is slow): bench/bench_person_checks.py.
-- The same values pass all three ways (tests/integration/test_load_population.py). The ID number's uniqueness is a unique index under the "C"
-- collation: the database's C.UTF-8 orders digits the same way, but its comparisons go through
-- the C library's strcoll and cannot use abbreviated keys, so building the index after a bulk
-- load took three times as long.
CREATE UNIQUE INDEX IF NOT EXISTS uq_person_sa_id_number ON core.person (sa_id_number COLLATE "C");
-- A person table made before passports carried their country gets the column, and the check for
-- the rows loaded from now on (NOT VALID: rows already there keep a passport without a country).
ALTER TABLE core.person ADD COLUMN IF NOT EXISTS passport_country char(3) NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'ck_person_passport_country') THEN
        ALTER TABLE core.person ADD CONSTRAINT ck_person_passport_country CHECK (
            (passport_country IS NULL) = (passport_number IS NULL)
            AND (passport_country IS NULL OR passport_country ~ '^[A-Z]{3}$')) NOT VALID;
    END IF;
END
$$;
-- A person table made before households gets the guardian column (NULL for everyone already
-- there), its check and its foreign key.
ALTER TABLE core.person ADD COLUMN IF NOT EXISTS guardian_person_id bigint NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'ck_person_guardian_not_self') THEN
        ALTER TABLE core.person
            ADD CONSTRAINT ck_person_guardian_not_self CHECK (guardian_person_id <> person_id),
            ADD CONSTRAINT fk_person_guardian FOREIGN KEY (guardian_person_id) REFERENCES core.person (person_id);
    END IF;
END
$$;
-- A person table made with the regular-expression or the ltrim checks, or with a unique constraint on
-- the ID number (sorted under C.UTF-8), gets the cheaper checks and the "C" index above: the same
-- rows pass, so the new checks are validated in one scan.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'core.person'::regclass
                                          AND conname = 'uq_person_sa_id_number' AND contype = 'u') THEN
        ALTER TABLE core.person DROP CONSTRAINT uq_person_sa_id_number;
        CREATE UNIQUE INDEX uq_person_sa_id_number ON core.person (sa_id_number COLLATE "C");
    END IF;
    IF pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conrelid = 'core.person'::regclass
                                                          AND conname = 'ck_person_identity')) NOT LIKE '%!~%' THEN
        ALTER TABLE core.person
            DROP CONSTRAINT ck_person_identity,
            DROP CONSTRAINT ck_person_phone_e164,
            DROP CONSTRAINT ck_person_postal_code,
            ADD CONSTRAINT ck_person_identity CHECK (
                (citizenship IN ('citizen', 'permanent_resident') AND length(sa_id_number) = 13
                 AND sa_id_number !~ '[^0-9]')
                OR (citizenship = 'foreign_national' AND sa_id_number IS NULL AND passport_number IS NOT NULL)),
            ADD CONSTRAINT ck_person_phone_e164 CHECK (
                length(phone_number) = 12 AND phone_number LIKE '+27%' AND substr(phone_number, 4) !~ '[^0-9]'),
            ADD CONSTRAINT ck_person_postal_code CHECK (length(postal_code) = 4 AND postal_code !~ '[^0-9]');
    END IF;
END
$$;
COMMENT ON TABLE core.person IS 'Synthetic Gauteng residents (people.csv). Personal information: analysts see it only through analytics.person.';
COMMENT ON COLUMN core.person.sa_id_number IS 'YYMMDD SSSS C A Z: birth date, sequence (0000-4999 F, 5000-9999 M), citizenship (0 citizen, 1 permanent resident), 8, Luhn check digit. NULL for foreign nationals.';
COMMENT ON COLUMN core.person.passport_number IS 'Passport or permit number; set for foreign nationals, who have no SA ID.';
COMMENT ON COLUMN core.person.passport_country IS 'Issuing country of the passport, ISO 3166-1 alpha-3 (for example ZWE); set exactly when passport_number is (ck_person_passport_country). Drawn by the country of birth of Gauteng''s foreign-born (Census 2022; core/reference/passport_countries.csv).';
COMMENT ON COLUMN core.person.phone_number IS 'E.164, +27 and nine digits (mobile or 011/010 landline). Children under 12 carry their guardian''s number (guardian_person_id, at the same address); everyone else has a number of their own.';
COMMENT ON COLUMN core.person.medical_aid IS 'Medical scheme name, or NULL for the uninsured majority; cover follows the suburb (core/reference/suburbs.csv medical_aid_share), children share their guardian''s scheme.';
COMMENT ON COLUMN core.person.person_id IS 'Synthetic person number from people.csv.';
COMMENT ON COLUMN core.person.guardian_person_id IS 'For a child under 12, the adult whose household the child lives in (a mother, father or grandmother, from the same generated chunk): same street address, suburb and phone number, the same medical scheme or none, usually the same surname. NULL for everyone 12 and older (fk_person_guardian).';
COMMENT ON COLUMN core.person.first_name IS 'Given name, drawn by sex and name tradition (Nguni, Sotho, Afrikaans, ...).';
COMMENT ON COLUMN core.person.last_name IS 'Surname, from the same name tradition as the first name.';
COMMENT ON COLUMN core.person.sex IS 'F or M (for SA ID holders also in the ID''s sequence digits).';
COMMENT ON COLUMN core.person.date_of_birth IS 'Date of birth (for SA ID holders also the ID''s first six digits, YYMMDD).';
COMMENT ON COLUMN core.person.citizenship IS 'citizen, permanent_resident or foreign_national.';
COMMENT ON COLUMN core.person.email IS 'E-mail address (first.last and a number, @ a common provider), unique; NULL for about 40% of people 16 and older and all under 16.';
COMMENT ON COLUMN core.person.street_address IS 'House number and street name, for example 1234 Vilakazi Street.';
COMMENT ON COLUMN core.person.suburb IS 'Suburb or township, for example Orlando East; Soweto suburbs are the hospital''s catchment.';
COMMENT ON COLUMN core.person.city IS 'City or metropolitan municipality of the suburb.';
COMMENT ON COLUMN core.person.province IS 'Province of the suburb; all Gauteng at present.';
COMMENT ON COLUMN core.person.postal_code IS 'South African postal code of the suburb, four digits (Soweto: 18xx).';

CREATE TABLE IF NOT EXISTS core.patient (
    patient_id          bigint      NOT NULL,
    hospital_number     text        NOT NULL,
    person_id           bigint      NOT NULL,
    registration_date   date        NOT NULL,
    blood_group         text        NOT NULL,
    chronic_conditions  text        NULL,
    current_ward_code   text        NULL,
    current_ward_since  timestamptz NULL,
    current_primary_icd10 text      NULL,
    CONSTRAINT pk_patient PRIMARY KEY (patient_id),
    CONSTRAINT uq_patient_hospital_number UNIQUE (hospital_number),
    CONSTRAINT uq_patient_person UNIQUE (person_id),
    CONSTRAINT fk_patient_person FOREIGN KEY (person_id) REFERENCES core.person (person_id),
    CONSTRAINT fk_patient_current_ward FOREIGN KEY (current_ward_code) REFERENCES reference.ward (ward_code),
    CONSTRAINT fk_patient_current_primary_icd10 FOREIGN KEY (current_primary_icd10) REFERENCES reference.icd10_code (icd10_code),
    CONSTRAINT ck_patient_blood_group CHECK (blood_group IN ('O+', 'O-', 'A+', 'A-', 'B+', 'B-', 'AB+', 'AB-'))
);
COMMENT ON TABLE core.patient IS 'Registered patients of the hospital (hospital_patients.csv); every patient is a person.';
COMMENT ON COLUMN core.patient.hospital_number IS 'The hospital''s own patient number, printed on the folder.';
COMMENT ON COLUMN core.patient.chronic_conditions IS 'Semicolon-separated WHO ICD-10 codes of chronic conditions, for example B20;I10.';
COMMENT ON COLUMN core.patient.current_ward_code IS 'Ward the patient is in now, kept by the transfer consumer; NULL when not admitted.';
COMMENT ON COLUMN core.patient.patient_id IS 'Patient number, in order of registration.';
COMMENT ON COLUMN core.patient.person_id IS 'The person this patient is (one patient row per person).';
COMMENT ON COLUMN core.patient.registration_date IS 'Day the patient was first registered at the hospital (2000 or birth at the earliest).';
COMMENT ON COLUMN core.patient.blood_group IS 'ABO and RhD group, for example O+ (SANBS donor distribution).';
COMMENT ON COLUMN core.patient.current_ward_since IS 'When the patient arrived in current_ward_code (SAST on the wire); NULL when not admitted.';
-- A patient table made before the census carried its diagnoses gets the column (NULL: not known).
ALTER TABLE core.patient ADD COLUMN IF NOT EXISTS current_primary_icd10 text NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'fk_patient_current_primary_icd10') THEN
        ALTER TABLE core.patient ADD CONSTRAINT fk_patient_current_primary_icd10
            FOREIGN KEY (current_primary_icd10) REFERENCES reference.icd10_code (icd10_code);
    END IF;
END
$$;
COMMENT ON COLUMN core.patient.current_primary_icd10 IS 'WHO ICD-10 primary diagnosis of the stay under way in current_ward_code, as the census at the window start gave it (a transfer inside the hospital keeps it); NULL when not admitted or not known.';

CREATE TABLE IF NOT EXISTS core.staff (
    staff_id            bigint      NOT NULL,
    person_id           bigint      NOT NULL,
    persal_number       text        NOT NULL,
    staff_category      text        NOT NULL,
    job_title           text        NOT NULL,
    sanc_category       text        NULL,
    department_code     text        NOT NULL,
    home_ward_code      text        NULL,
    hire_date           date        NOT NULL,
    retirement_date     date        NULL,
    replaces_staff_id   bigint      NULL,
    CONSTRAINT pk_staff PRIMARY KEY (staff_id),
    CONSTRAINT uq_staff_persal_number UNIQUE (persal_number),
    CONSTRAINT uq_staff_person UNIQUE (person_id),
    CONSTRAINT fk_staff_person FOREIGN KEY (person_id) REFERENCES core.person (person_id),
    CONSTRAINT fk_staff_department FOREIGN KEY (department_code) REFERENCES reference.department (department_code),
    CONSTRAINT fk_staff_home_ward FOREIGN KEY (home_ward_code) REFERENCES reference.ward (ward_code),
    CONSTRAINT fk_staff_replaces FOREIGN KEY (replaces_staff_id) REFERENCES core.staff (staff_id),
    CONSTRAINT ck_staff_category CHECK (staff_category IN
        ('doctor', 'nurse', 'allied_health', 'administration', 'support')),
    CONSTRAINT ck_staff_sanc_category CHECK (
        (staff_category = 'nurse') = (sanc_category IS NOT NULL)),
    CONSTRAINT ck_staff_sanc_values CHECK (sanc_category IN
        ('registered_nurse', 'enrolled_nurse', 'enrolled_nursing_auxiliary'))
);
COMMENT ON TABLE core.staff IS 'Everyone employed by the hospital (staff.csv); every staff member is a person of working age.';
COMMENT ON COLUMN core.staff.persal_number IS 'Public-service payroll (PERSAL) number.';
COMMENT ON COLUMN core.staff.sanc_category IS 'South African Nursing Council category; set for nurses only.';
COMMENT ON COLUMN core.staff.retirement_date IS 'Public Service Act s16: the 65th birthday if it is the 1st of a month, else the 1st of the following month. NULL if outside the roster horizon.';
COMMENT ON COLUMN core.staff.replaces_staff_id IS 'For a replacement hire: the retiring staff member whose role, speciality and ward they take over.';
COMMENT ON COLUMN core.staff.staff_id IS 'Staff number; a replacement hire gets a new one.';
COMMENT ON COLUMN core.staff.person_id IS 'The person employed (a citizen or permanent resident of working age).';
COMMENT ON COLUMN core.staff.staff_category IS 'doctor, nurse, allied_health, administration or support.';
COMMENT ON COLUMN core.staff.job_title IS 'Post title, for example Registrar, Professional Nurse or Porter.';
COMMENT ON COLUMN core.staff.department_code IS 'The department the post belongs to.';
COMMENT ON COLUMN core.staff.home_ward_code IS 'Ward on whose rota the staff member works (nurses'' 12-hour shifts, doctors'' days and calls); NULL for staff off the ward rota.';
COMMENT ON COLUMN core.staff.hire_date IS 'First day of employment in this post.';

CREATE TABLE IF NOT EXISTS core.doctor (
    staff_id        bigint      NOT NULL,
    hpcsa_number    text        NOT NULL,
    grade           text        NOT NULL,
    speciality_code text        NULL,
    subspeciality   text        NULL,
    CONSTRAINT pk_doctor PRIMARY KEY (staff_id),
    CONSTRAINT uq_doctor_hpcsa_number UNIQUE (hpcsa_number),
    CONSTRAINT fk_doctor_staff FOREIGN KEY (staff_id) REFERENCES core.staff (staff_id),
    CONSTRAINT fk_doctor_speciality FOREIGN KEY (speciality_code) REFERENCES reference.speciality (speciality_code),
    CONSTRAINT ck_doctor_grade CHECK (grade IN
        ('intern', 'community_service', 'medical_officer', 'registrar', 'specialist', 'principal_specialist', 'chief_specialist')),
    CONSTRAINT ck_doctor_speciality_grade CHECK (
        (speciality_code IS NULL) = (grade IN ('intern', 'community_service'))
        AND (subspeciality IS NULL OR grade IN ('specialist', 'principal_specialist', 'chief_specialist')))
);
-- A doctor table made when every grade carried a speciality: the column may be NULL now, and the
-- check holds for rows loaded from now on (NOT VALID: interns already there keep theirs).
ALTER TABLE core.doctor ALTER COLUMN speciality_code DROP NOT NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'ck_doctor_speciality_grade') THEN
        ALTER TABLE core.doctor ADD CONSTRAINT ck_doctor_speciality_grade CHECK (
            (speciality_code IS NULL) = (grade IN ('intern', 'community_service'))
            AND (subspeciality IS NULL OR grade IN ('specialist', 'principal_specialist', 'chief_specialist')))
            NOT VALID;
    END IF;
END
$$;
COMMENT ON TABLE core.doctor IS 'Doctors (doctors.csv): the staff rows of category doctor, with their HPCSA registration.';
COMMENT ON COLUMN core.doctor.hpcsa_number IS 'HPCSA registration number, MP followed by seven digits.';
COMMENT ON COLUMN core.doctor.speciality_code IS 'The speciality the doctor works or trains in (for medical officers: the department''s); NULL exactly for interns and community-service medical officers, who have none (ck_doctor_speciality_grade).';
COMMENT ON COLUMN core.doctor.staff_id IS 'The doctor''s core.staff row.';
COMMENT ON COLUMN core.doctor.grade IS 'intern, community_service, medical_officer, registrar, specialist, principal_specialist or chief_specialist.';
COMMENT ON COLUMN core.doctor.subspeciality IS 'Subspeciality of some specialists, for example Neonatology; NULL otherwise.';

CREATE TABLE IF NOT EXISTS core.staff_history (
    staff_history_id    bigint      GENERATED ALWAYS AS IDENTITY,
    staff_id            bigint      NOT NULL,
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz NULL,
    employment_status   text        NOT NULL,
    job_title           text        NOT NULL,
    department_code     text        NOT NULL,
    home_ward_code      text        NULL,
    change_reason       text        NOT NULL,
    CONSTRAINT pk_staff_history PRIMARY KEY (staff_history_id),
    CONSTRAINT uq_staff_history_version UNIQUE (staff_id, valid_from),
    CONSTRAINT fk_staff_history_staff FOREIGN KEY (staff_id) REFERENCES core.staff (staff_id),
    CONSTRAINT ck_staff_history_status CHECK (employment_status IN ('active', 'retired')),
    CONSTRAINT ck_staff_history_interval CHECK (valid_to IS NULL OR valid_to > valid_from)
);
COMMENT ON TABLE core.staff_history IS 'Type-2 history of each staff member: one row per period in which their employment details held.';
COMMENT ON COLUMN core.staff_history.valid_to IS 'End of the period (exclusive); NULL for the current row.';
COMMENT ON COLUMN core.staff_history.change_reason IS 'hired, retired, transferred, ...';
COMMENT ON COLUMN core.staff_history.staff_history_id IS 'Surrogate key of the history row.';
COMMENT ON COLUMN core.staff_history.staff_id IS 'The staff member this period belongs to.';
COMMENT ON COLUMN core.staff_history.valid_from IS 'Start of the period (inclusive): midnight SAST of the hire date, or the retirement date.';
COMMENT ON COLUMN core.staff_history.employment_status IS 'active or retired during the period.';
COMMENT ON COLUMN core.staff_history.job_title IS 'Post title during the period.';
COMMENT ON COLUMN core.staff_history.department_code IS 'Department during the period.';
COMMENT ON COLUMN core.staff_history.home_ward_code IS 'Rota ward during the period; NULL for staff off the ward rota.';

CREATE TABLE IF NOT EXISTS core.staff_assignment (
    staff_assignment_id bigint      NOT NULL,
    staff_id            bigint      NOT NULL,
    ward_code           text        NOT NULL,
    shift_date          date        NOT NULL,
    shift_kind          text        NOT NULL,
    shift_start         timestamptz NOT NULL,
    shift_end           timestamptz NOT NULL,
    covers_for_staff_id bigint      NULL,
    CONSTRAINT pk_staff_assignment PRIMARY KEY (staff_assignment_id),
    CONSTRAINT uq_staff_assignment_shift UNIQUE (staff_id, shift_start),
    CONSTRAINT fk_staff_assignment_staff FOREIGN KEY (staff_id) REFERENCES core.staff (staff_id),
    CONSTRAINT fk_staff_assignment_ward FOREIGN KEY (ward_code) REFERENCES reference.ward (ward_code),
    CONSTRAINT fk_staff_assignment_covers_for FOREIGN KEY (covers_for_staff_id) REFERENCES core.staff (staff_id),
    CONSTRAINT ck_staff_assignment_kind CHECK (shift_kind IN ('day', 'night', 'call')),
    CONSTRAINT ck_staff_assignment_length CHECK (
        (shift_kind = 'day' AND shift_end - shift_start IN (interval '8 hours', interval '12 hours'))
        OR (shift_kind = 'night' AND shift_end = shift_start + interval '12 hours')
        OR (shift_kind = 'call' AND shift_end - shift_start IN (interval '16 hours', interval '24 hours')))
);
-- A warehouse made before doctors had their own pattern knew only 12-hour day and night shifts.
ALTER TABLE core.staff_assignment DROP CONSTRAINT IF EXISTS ck_staff_assignment_twelve_hours;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'ck_staff_assignment_length') THEN
        ALTER TABLE core.staff_assignment DROP CONSTRAINT ck_staff_assignment_kind;
        ALTER TABLE core.staff_assignment ADD CONSTRAINT ck_staff_assignment_kind
            CHECK (shift_kind IN ('day', 'night', 'call'));
        ALTER TABLE core.staff_assignment ADD CONSTRAINT ck_staff_assignment_length CHECK (
            (shift_kind = 'day' AND shift_end - shift_start IN (interval '8 hours', interval '12 hours'))
            OR (shift_kind = 'night' AND shift_end = shift_start + interval '12 hours')
            OR (shift_kind = 'call' AND shift_end - shift_start IN (interval '16 hours', interval '24 hours')));
    END IF;
END $$;
COMMENT ON TABLE core.staff_assignment IS 'Shift roster (assigned_staff.csv): who works which ward on which shift (nurses 12-hour days and nights, doctors weekday days and after-hours calls).';
COMMENT ON COLUMN core.staff_assignment.shift_kind IS 'Nurses: day 07:00-19:00 or night 19:00-07:00 SAST. Doctors: day 08:00-16:00 on weekdays that are not public holidays, or call (16:00-08:00 after a weekday, 08:00-08:00 on weekends and public holidays).';
COMMENT ON COLUMN core.staff_assignment.covers_for_staff_id IS 'Set on a replacement''s shift: the retired staff member whose rota slot (nurse''s team, doctor''s call line) it is.';
COMMENT ON COLUMN core.staff_assignment.staff_assignment_id IS 'Row number in assigned_staff.csv, in order of shift start.';
COMMENT ON COLUMN core.staff_assignment.staff_id IS 'The doctor or nurse on the shift.';
COMMENT ON COLUMN core.staff_assignment.ward_code IS 'The ward worked, the staff member''s home ward.';
COMMENT ON COLUMN core.staff_assignment.shift_date IS 'SAST date the shift starts on (a night shift or a call ends the next day).';
COMMENT ON COLUMN core.staff_assignment.shift_start IS 'Start of the shift: 07:00 or 19:00 SAST for nurses; 08:00 or 16:00 for doctors.';
COMMENT ON COLUMN core.staff_assignment.shift_end IS 'End of the shift (exclusive): 12 hours after shift_start for nurses; 8 (day), 16 or 24 (call) for doctors.';

-- ---------------------------------------------------------------------------
-- stream: patient transfers from Kafka
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS stream.transfer (
    transfer_id             uuid        NOT NULL,
    patient_id              bigint      NOT NULL,
    version                 integer     NOT NULL,
    status                  text        NOT NULL,
    from_ward_code          text        NULL,
    from_facility_code      text        NULL,
    to_ward_code            text        NULL,
    to_facility_code        text        NULL,
    reason                  text        NOT NULL,
    priority                text        NOT NULL,
    authorising_staff_id    bigint      NOT NULL,
    last_event_id           uuid        NOT NULL,
    event_time              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_transfer PRIMARY KEY (transfer_id),
    CONSTRAINT fk_transfer_patient FOREIGN KEY (patient_id) REFERENCES core.patient (patient_id),
    CONSTRAINT fk_transfer_from_ward FOREIGN KEY (from_ward_code) REFERENCES reference.ward (ward_code),
    CONSTRAINT fk_transfer_to_ward FOREIGN KEY (to_ward_code) REFERENCES reference.ward (ward_code),
    CONSTRAINT fk_transfer_from_facility FOREIGN KEY (from_facility_code) REFERENCES reference.facility (facility_code),
    CONSTRAINT fk_transfer_to_facility FOREIGN KEY (to_facility_code) REFERENCES reference.facility (facility_code),
    CONSTRAINT fk_transfer_authorising_staff FOREIGN KEY (authorising_staff_id) REFERENCES core.staff (staff_id),
    CONSTRAINT ck_transfer_status CHECK (status IN ('requested', 'accepted', 'in_transit', 'completed', 'cancelled')),
    CONSTRAINT ck_transfer_priority CHECK (priority IN ('routine', 'urgent', 'emergency')),
    CONSTRAINT ck_transfer_version CHECK (version >= 1),
    CONSTRAINT ck_transfer_from CHECK ((from_ward_code IS NULL) <> (from_facility_code IS NULL)),
    CONSTRAINT ck_transfer_to CHECK ((to_ward_code IS NULL) <> (to_facility_code IS NULL))
);
COMMENT ON TABLE stream.transfer IS 'Current state of each patient transfer: the highest version seen (version-guarded upsert).';
COMMENT ON COLUMN stream.transfer.version IS 'Per-transfer version; an event with a version not above this one changes nothing.';
COMMENT ON COLUMN stream.transfer.from_ward_code IS 'Ward the patient leaves; NULL when they come from another facility.';
COMMENT ON COLUMN stream.transfer.to_facility_code IS 'Facility the patient goes to; NULL when the destination is a ward here.';
COMMENT ON COLUMN stream.transfer.event_time IS 'When the latest stored version happened (SAST on the wire).';
COMMENT ON COLUMN stream.transfer.transfer_id IS 'UUID of the transfer; the Kafka message key, so its versions stay on one partition.';
COMMENT ON COLUMN stream.transfer.patient_id IS 'The patient being transferred.';
COMMENT ON COLUMN stream.transfer.status IS 'requested, accepted, in_transit, completed or cancelled, as of the latest version.';
COMMENT ON COLUMN stream.transfer.from_facility_code IS 'Facility the patient comes from; NULL when they leave a ward here.';
COMMENT ON COLUMN stream.transfer.to_ward_code IS 'Ward the patient goes to; NULL when the destination is another facility.';
COMMENT ON COLUMN stream.transfer.reason IS 'Free-text clinical reason, for example needs ICU care.';
COMMENT ON COLUMN stream.transfer.priority IS 'routine, urgent or emergency.';
COMMENT ON COLUMN stream.transfer.authorising_staff_id IS 'Doctor on shift in the sending (for inbound transfers, receiving) ward who authorised it.';
COMMENT ON COLUMN stream.transfer.last_event_id IS 'The stream.transfer_event row of the version stored here.';
COMMENT ON COLUMN stream.transfer.updated_at IS 'When the consumer last changed the row (server clock).';

CREATE TABLE IF NOT EXISTS stream.transfer_event (
    event_id                uuid        NOT NULL,
    transfer_id             uuid        NOT NULL,
    version                 integer     NOT NULL,
    status                  text        NOT NULL,
    patient_id              bigint      NOT NULL,
    from_ward_code          text        NULL,
    from_facility_code      text        NULL,
    to_ward_code            text        NULL,
    to_facility_code        text        NULL,
    reason                  text        NOT NULL,
    priority                text        NOT NULL,
    authorising_staff_id    bigint      NOT NULL,
    event_time              timestamptz NOT NULL,
    kafka_partition         integer     NOT NULL,
    kafka_offset            bigint      NOT NULL,
    received_at             timestamptz NOT NULL DEFAULT now(),
    produced_at             timestamptz NULL,
    CONSTRAINT pk_transfer_event PRIMARY KEY (event_id),
    CONSTRAINT uq_transfer_event_version UNIQUE (transfer_id, version),
    CONSTRAINT ck_transfer_event_status CHECK (status IN ('requested', 'accepted', 'in_transit', 'completed', 'cancelled'))
);
COMMENT ON TABLE stream.transfer_event IS 'Every accepted transfer event exactly once (keyed by event_id and by transfer_id + version).';
COMMENT ON COLUMN stream.transfer_event.received_at IS 'When the consumer wrote the row (server clock); received_at - produced_at is the end-to-end latency.';
COMMENT ON COLUMN stream.transfer_event.event_id IS 'UUID of the event; a replayed message with the same id is stored once.';
COMMENT ON COLUMN stream.transfer_event.transfer_id IS 'The transfer this event is a version of.';
COMMENT ON COLUMN stream.transfer_event.version IS 'Version of the transfer, from 1 (always requested), one step per status change.';
COMMENT ON COLUMN stream.transfer_event.status IS 'requested, accepted, in_transit, completed or cancelled.';
COMMENT ON COLUMN stream.transfer_event.patient_id IS 'The patient being transferred; checked against core.patient with their hospital and SA ID numbers.';
COMMENT ON COLUMN stream.transfer_event.from_ward_code IS 'Ward the patient leaves; NULL when they come from another facility.';
COMMENT ON COLUMN stream.transfer_event.from_facility_code IS 'Facility the patient comes from; NULL when they leave a ward here.';
COMMENT ON COLUMN stream.transfer_event.to_ward_code IS 'Ward the patient goes to; NULL when the destination is another facility.';
COMMENT ON COLUMN stream.transfer_event.to_facility_code IS 'Facility the patient goes to; NULL when the destination is a ward here.';
COMMENT ON COLUMN stream.transfer_event.reason IS 'Free-text clinical reason, for example needs ICU care.';
COMMENT ON COLUMN stream.transfer_event.priority IS 'routine, urgent or emergency.';
COMMENT ON COLUMN stream.transfer_event.authorising_staff_id IS 'Doctor on shift in the sending (for inbound transfers, receiving) ward who authorised it.';
COMMENT ON COLUMN stream.transfer_event.event_time IS 'When this version happened (ISO 8601 SAST on the wire).';
COMMENT ON COLUMN stream.transfer_event.kafka_partition IS 'Partition of the transfers topic the message was read from.';
COMMENT ON COLUMN stream.transfer_event.kafka_offset IS 'Offset of the message within its partition.';
COMMENT ON COLUMN stream.transfer_event.produced_at IS 'Kafka message timestamp (when the producer sent it, wall clock); received_at - produced_at is the consumer lag. NULL if the message had none.';

-- ---------------------------------------------------------------------------
-- ops: ledgers, quarantine, offsets, run state
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS ops.file_ledger (
    file_id         bigint      GENERATED ALWAYS AS IDENTITY,
    sha256          char(64)    NOT NULL,
    file_name       text        NOT NULL,
    file_kind       text        NULL,
    size_bytes      bigint      NOT NULL,
    status          text        NOT NULL,
    claimed_by      text        NOT NULL,
    claimed_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz NULL,
    rows_read       bigint      NULL,
    rows_loaded     bigint      NULL,
    rows_rejected   bigint      NULL,
    error           text        NULL,
    record_ids      int8multirange NULL,
    CONSTRAINT pk_file_ledger PRIMARY KEY (file_id),
    CONSTRAINT uq_file_ledger_sha256 UNIQUE (sha256),
    CONSTRAINT ex_file_ledger_record_ids EXCLUDE USING gist (file_kind WITH =, record_ids WITH &&),
    CONSTRAINT ck_file_ledger_status CHECK (status IN ('loaded', 'quarantined')),
    CONSTRAINT ck_file_ledger_reconciled CHECK (
        status <> 'loaded' OR rows_read = rows_loaded + rows_rejected)
);
-- A ledger made by the first version of this file gets the id claims.
ALTER TABLE ops.file_ledger ADD COLUMN IF NOT EXISTS record_ids int8multirange NULL;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'ex_file_ledger_record_ids') THEN
        ALTER TABLE ops.file_ledger ADD CONSTRAINT ex_file_ledger_record_ids
            EXCLUDE USING gist (file_kind WITH =, record_ids WITH &&);
    END IF;
END
$$;
COMMENT ON TABLE ops.file_ledger IS 'Every batch file ever taken, keyed by content hash, so each file loads exactly once whatever its name.';
COMMENT ON COLUMN ops.file_ledger.sha256 IS 'SHA-256 of the file bytes, hex.';
COMMENT ON COLUMN ops.file_ledger.status IS 'loaded (rows merged, rejects kept) or quarantined (the file could not be read at all: empty, too large, no record header, or a failure while loading it).';
COMMENT ON COLUMN ops.file_ledger.rows_read IS 'Records in the file after the header, counted by the loader itself (RFC 4180), not by COPY; always rows_loaded + rows_rejected for a loaded file.';
COMMENT ON COLUMN ops.file_ledger.file_id IS 'Ledger number of the file; clinical rows and rejected rows point to it.';
COMMENT ON COLUMN ops.file_ledger.file_name IS 'Name the file was first taken under, for example vital_sign_20260302T0715_t0029.csv.';
COMMENT ON COLUMN ops.file_ledger.file_kind IS 'Record kind the header names (admission, discharge, diagnosis, vital_sign, lab_result, medication); NULL when it names none.';
COMMENT ON COLUMN ops.file_ledger.size_bytes IS 'File size in bytes.';
COMMENT ON COLUMN ops.file_ledger.claimed_by IS 'Loader that took the file, as host:pid.';
COMMENT ON COLUMN ops.file_ledger.claimed_at IS 'When the loader''s transaction claimed the file (server clock).';
COMMENT ON COLUMN ops.file_ledger.finished_at IS 'When the load or quarantine was recorded (server clock).';
COMMENT ON COLUMN ops.file_ledger.rows_loaded IS 'Rows inserted into the clinical table; NULL for a quarantined file.';
COMMENT ON COLUMN ops.file_ledger.rows_rejected IS 'Rows sent to ops.rejected_row; NULL for a quarantined file.';
COMMENT ON COLUMN ops.file_ledger.record_ids IS 'Record ids (the kind''s id column) this file loaded, as ranges. No two files of a kind may hold the same id (exclusion constraint), so a record loads once whatever file brings it; this replaces a per-row primary key on the clinical tables.';
COMMENT ON COLUMN ops.file_ledger.error IS 'Why the file could not be read, for example empty file; NULL for a loaded file.';

CREATE TABLE IF NOT EXISTS ops.rejected_row (
    rejected_row_id bigint      GENERATED ALWAYS AS IDENTITY,
    file_id         bigint      NOT NULL,
    line_number     bigint      NOT NULL,
    reason          text        NOT NULL,
    raw_row         text        NOT NULL,
    CONSTRAINT pk_rejected_row PRIMARY KEY (rejected_row_id),
    CONSTRAINT fk_rejected_row_file FOREIGN KEY (file_id) REFERENCES ops.file_ledger (file_id)
);
COMMENT ON TABLE ops.rejected_row IS 'Rows of batch files that failed validation, with the reason and the row as it arrived.';
COMMENT ON COLUMN ops.rejected_row.line_number IS 'Line of the file the record starts on (1 is the header).';
COMMENT ON COLUMN ops.rejected_row.rejected_row_id IS 'Surrogate key of the rejected row.';
COMMENT ON COLUMN ops.rejected_row.file_id IS 'The ops.file_ledger row of the file the row came from.';
COMMENT ON COLUMN ops.rejected_row.reason IS 'First failed check, as column: problem, for example heart_rate_bpm: not an integer; or why the record cannot be a row at all, for example 12 fields where the header has 11.';
COMMENT ON COLUMN ops.rejected_row.raw_row IS 'The row as staged from the file (its fields joined by commas, empty for NULL); for a record that could not be a row, its text as it arrived, bytes that are not UTF-8 as \xNN, at most 2,000 characters.';

CREATE TABLE IF NOT EXISTS ops.quarantined_event (
    quarantined_event_id    bigint      GENERATED ALWAYS AS IDENTITY,
    topic                   text        NOT NULL,
    kafka_partition         integer     NOT NULL,
    kafka_offset            bigint      NOT NULL,
    reason                  text        NOT NULL,
    raw_payload             bytea       NULL,
    quarantined_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_quarantined_event PRIMARY KEY (quarantined_event_id),
    CONSTRAINT uq_quarantined_event_position UNIQUE (topic, kafka_partition, kafka_offset)
);
COMMENT ON TABLE ops.quarantined_event IS 'Stream events the consumer could not accept, with the reason and the raw bytes; also sent to the dead-letter topic.';
COMMENT ON COLUMN ops.quarantined_event.kafka_offset IS 'Position of the bad message; unique with topic and partition, so a replay quarantines it once.';
COMMENT ON COLUMN ops.quarantined_event.quarantined_event_id IS 'Surrogate key of the quarantined event.';
COMMENT ON COLUMN ops.quarantined_event.topic IS 'Kafka topic the message was read from.';
COMMENT ON COLUMN ops.quarantined_event.kafka_partition IS 'Partition of the topic the message was read from.';
COMMENT ON COLUMN ops.quarantined_event.reason IS 'category: detail, for example invalid_sa_id: ... or unknown_patient: patient_id 17.';
COMMENT ON COLUMN ops.quarantined_event.raw_payload IS 'The message value as received; NULL for an empty message.';
COMMENT ON COLUMN ops.quarantined_event.quarantined_at IS 'When the consumer stored it (server clock).';

CREATE TABLE IF NOT EXISTS ops.consumer_offset (
    consumer_group  text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_consumer_offset PRIMARY KEY (consumer_group, topic, kafka_partition)
);
COMMENT ON TABLE ops.consumer_offset IS 'Kafka offsets stored in the same transaction as the rows they produced: the source of truth on restart.';
COMMENT ON COLUMN ops.consumer_offset.next_offset IS 'Offset of the next message to read on this partition.';
COMMENT ON COLUMN ops.consumer_offset.consumer_group IS 'Kafka consumer group the offset belongs to.';
COMMENT ON COLUMN ops.consumer_offset.topic IS 'Kafka topic read.';
COMMENT ON COLUMN ops.consumer_offset.kafka_partition IS 'Partition of the topic.';
COMMENT ON COLUMN ops.consumer_offset.updated_at IS 'When the offset last moved forward (server clock).';

CREATE TABLE IF NOT EXISTS ops.offset_incident (
    offset_incident_id  bigint      GENERATED ALWAYS AS IDENTITY,
    consumer_group      text        NOT NULL,
    topic               text        NOT NULL,
    kafka_partition     integer     NOT NULL,
    stored_offset       bigint      NOT NULL,
    log_start           bigint      NOT NULL,
    log_end             bigint      NOT NULL,
    kind                text        NOT NULL,
    action              text        NOT NULL,
    noticed_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_offset_incident PRIMARY KEY (offset_incident_id),
    CONSTRAINT ck_offset_incident_kind CHECK (
        (kind = 'ahead_of_log_end' AND stored_offset > log_end)
        OR (kind = 'behind_log_start' AND stored_offset < log_start)),
    CONSTRAINT ck_offset_incident_action CHECK (action IN ('resumed_from_log_start')),
    CONSTRAINT ck_offset_incident_log CHECK (0 <= log_start AND log_start <= log_end)
);
COMMENT ON TABLE ops.offset_incident IS 'Every time the consumer found its stored offset (ops.consumer_offset) outside the partition''s log, and what it did; an append-only log.';
COMMENT ON COLUMN ops.offset_incident.offset_incident_id IS 'Surrogate key of the incident.';
COMMENT ON COLUMN ops.offset_incident.consumer_group IS 'Kafka consumer group whose stored offset it was.';
COMMENT ON COLUMN ops.offset_incident.topic IS 'Kafka topic read.';
COMMENT ON COLUMN ops.offset_incident.kafka_partition IS 'Partition of the topic.';
COMMENT ON COLUMN ops.offset_incident.stored_offset IS 'The next offset PostgreSQL held for the partition when it was assigned.';
COMMENT ON COLUMN ops.offset_incident.log_start IS 'First offset still in the partition''s log (low watermark) at that moment.';
COMMENT ON COLUMN ops.offset_incident.log_end IS 'Offset after the last message in the log (high watermark) at that moment.';
COMMENT ON COLUMN ops.offset_incident.kind IS 'ahead_of_log_end (the topic was recreated or truncated) or behind_log_start (log_start - stored_offset messages were deleted unread).';
COMMENT ON COLUMN ops.offset_incident.action IS 'What the consumer did: resumed_from_log_start (and set the stored offset to log_start).';
COMMENT ON COLUMN ops.offset_incident.noticed_at IS 'When the consumer recorded it (server clock).';
-- A log: the pipeline adds and reads incidents, never changes them. (The schema-wide grant
-- under Privileges must leave UPDATE and DELETE revoked here, as for ops.quarantined_event.)
GRANT SELECT, INSERT ON ops.offset_incident TO hospital_ingest;

CREATE TABLE IF NOT EXISTS ops.run_state (
    run_id              text        NOT NULL,
    window_start        timestamptz NOT NULL,
    window_end          timestamptz NOT NULL,
    status              text        NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_run_state PRIMARY KEY (run_id),
    CONSTRAINT ck_run_state_status CHECK (status IN ('running', 'stopped', 'finished')),
    CONSTRAINT ck_run_state_window CHECK (window_end > window_start)
);
COMMENT ON TABLE ops.run_state IS 'The run the warehouse holds (one at a time) and whether it finished. Progress is counted from the data itself; the producer and writer keep their place in small state files, the consumer its offsets in ops.consumer_offset.';
COMMENT ON COLUMN ops.run_state.run_id IS 'What makes two runs the same: seed, start, days, people and target size; a run with the same key resumes.';
COMMENT ON COLUMN ops.run_state.window_start IS 'First instant of the simulated window (SIM_START).';
COMMENT ON COLUMN ops.run_state.window_end IS 'End of the simulated window (exclusive): window_start plus the run''s days.';
COMMENT ON COLUMN ops.run_state.status IS 'running, stopped (interrupted; run again to resume) or finished.';
COMMENT ON COLUMN ops.run_state.updated_at IS 'When the row last changed (server clock).';

-- ---------------------------------------------------------------------------
-- clinical: patient records from the batch files, one partition per day
-- ---------------------------------------------------------------------------
-- Record ids are the hospital system's own bigint numbers, unique per record kind and
-- rising with time (tick number * 10^7 + sequence). Their uniqueness is kept per file, not
-- per row: the ledger row of each file holds the id ranges it loaded, and an exclusion
-- constraint (ops.file_ledger.record_ids) refuses a second file claiming any of them. That
-- holds across days (a per-day partitioned primary key could not) and costs one range per
-- file instead of an index entry per row, which was a third of the load time. Each record's
-- partition key is the SAST day of its event time; every row keeps the ledger row (file_id)
-- of the file that brought it.
CREATE TABLE IF NOT EXISTS clinical.admission (
    admission_id        bigint      NOT NULL,
    record_date         date        NOT NULL,
    patient_id          bigint      NOT NULL,
    person_id           bigint      NOT NULL,
    ward_code           text        NOT NULL,
    admitted_at         timestamptz NOT NULL,
    admission_type      text        NOT NULL,
    attending_staff_id  bigint      NOT NULL,
    file_id             bigint      NOT NULL,
    CONSTRAINT ck_admission_type CHECK (admission_type IN ('emergency', 'elective', 'transfer_in', 'maternity'))
) PARTITION BY RANGE (record_date);
COMMENT ON TABLE clinical.admission IS 'Admissions from batch files (admission_*.csv); partitioned by record_date (one partition per simulated day).';
COMMENT ON COLUMN clinical.admission.record_date IS 'Simulated SAST day of admitted_at; the partition key.';
COMMENT ON COLUMN clinical.admission.person_id IS 'The patient''s person, as the file states it; checked against core.patient on load.';
COMMENT ON COLUMN clinical.admission.attending_staff_id IS 'Doctor on shift in the ward who admitted the patient.';
COMMENT ON COLUMN clinical.admission.file_id IS 'The ops.file_ledger row of the file that brought it.';
COMMENT ON COLUMN clinical.admission.admission_id IS 'The hospital system''s admission number (tick * 10^7 + sequence).';
COMMENT ON COLUMN clinical.admission.patient_id IS 'The patient admitted; checked against core.patient on load.';
COMMENT ON COLUMN clinical.admission.ward_code IS 'Ward admitted to.';
COMMENT ON COLUMN clinical.admission.admitted_at IS 'When the patient was admitted (ISO 8601 SAST in the file).';
COMMENT ON COLUMN clinical.admission.admission_type IS 'emergency, elective, transfer_in or maternity (every admission to a maternity ward).';

CREATE TABLE IF NOT EXISTS clinical.discharge (
    discharge_id        bigint      NOT NULL,
    record_date         date        NOT NULL,
    admission_id        bigint      NOT NULL,
    patient_id          bigint      NOT NULL,
    ward_code           text        NOT NULL,
    discharged_at       timestamptz NOT NULL,
    disposition         text        NOT NULL,
    discharging_staff_id bigint     NOT NULL,
    file_id             bigint      NOT NULL,
    CONSTRAINT ck_discharge_disposition CHECK (disposition IN
        ('home', 'transferred_out', 'died', 'absconded', 'against_medical_advice'))
) PARTITION BY RANGE (record_date);
COMMENT ON TABLE clinical.discharge IS 'Discharges (discharge_*.csv): the end of an admission; no later record of the stay follows.';
COMMENT ON COLUMN clinical.discharge.admission_id IS 'The admission this discharge ends (it may have loaded from an earlier file).';
COMMENT ON COLUMN clinical.discharge.disposition IS 'home, transferred_out, died, absconded or against_medical_advice.';
COMMENT ON COLUMN clinical.discharge.discharge_id IS 'The hospital system''s discharge number (tick * 10^7 + sequence).';
COMMENT ON COLUMN clinical.discharge.record_date IS 'Simulated SAST day of discharged_at; the partition key.';
COMMENT ON COLUMN clinical.discharge.patient_id IS 'The patient discharged; checked against core.patient on load.';
COMMENT ON COLUMN clinical.discharge.ward_code IS 'Ward the patient leaves.';
COMMENT ON COLUMN clinical.discharge.discharged_at IS 'When the patient left (ISO 8601 SAST in the file).';
COMMENT ON COLUMN clinical.discharge.discharging_staff_id IS 'Doctor on shift in the ward who discharged the patient.';
COMMENT ON COLUMN clinical.discharge.file_id IS 'The ops.file_ledger row of the file that brought it.';

CREATE TABLE IF NOT EXISTS clinical.diagnosis (
    diagnosis_id        bigint      NOT NULL,
    record_date         date        NOT NULL,
    admission_id        bigint      NOT NULL,
    patient_id          bigint      NOT NULL,
    icd10_code          text        NOT NULL,
    diagnosis_role      text        NOT NULL,
    diagnosed_at        timestamptz NOT NULL,
    diagnosing_staff_id bigint      NOT NULL,
    file_id             bigint      NOT NULL,
    CONSTRAINT ck_diagnosis_role CHECK (diagnosis_role IN ('primary', 'secondary', 'external_cause'))
) PARTITION BY RANGE (record_date);
COMMENT ON TABLE clinical.diagnosis IS 'WHO ICD-10 diagnoses (diagnosis_*.csv); every injury (S/T) has an external-cause (V01-Y98) partner in the same file.';
COMMENT ON COLUMN clinical.diagnosis.icd10_code IS 'A code of reference.icd10_code that fits the patient''s sex and age (no O codes for men or children).';
COMMENT ON COLUMN clinical.diagnosis.diagnosis_role IS 'primary, secondary, or external_cause (the V-Y code that explains an injury).';
COMMENT ON COLUMN clinical.diagnosis.diagnosis_id IS 'The hospital system''s diagnosis number (tick * 10^7 + sequence).';
COMMENT ON COLUMN clinical.diagnosis.record_date IS 'Simulated SAST day of diagnosed_at; the partition key.';
COMMENT ON COLUMN clinical.diagnosis.admission_id IS 'The admission the diagnosis was made in.';
COMMENT ON COLUMN clinical.diagnosis.patient_id IS 'The patient diagnosed; checked against core.patient on load.';
COMMENT ON COLUMN clinical.diagnosis.diagnosed_at IS 'When the diagnosis was recorded, shortly after admission (ISO 8601 SAST in the file).';
COMMENT ON COLUMN clinical.diagnosis.diagnosing_staff_id IS 'Doctor on shift in the ward who made the diagnosis.';
COMMENT ON COLUMN clinical.diagnosis.file_id IS 'The ops.file_ledger row of the file that brought it.';

CREATE TABLE IF NOT EXISTS clinical.vital_sign (
    vital_sign_id       bigint      NOT NULL,
    record_date         date        NOT NULL,
    patient_id          bigint      NOT NULL,
    ward_code           text        NOT NULL,
    measured_at         timestamptz NOT NULL,
    heart_rate_bpm      integer     NULL,
    systolic_mmhg       integer     NULL,
    diastolic_mmhg      integer     NULL,
    respiratory_rate    integer     NULL,
    temperature_c       numeric(4,1) NULL,
    spo2_percent        integer     NULL,
    recorded_by_staff_id bigint     NOT NULL,
    file_id             bigint      NOT NULL
) PARTITION BY RANGE (record_date);
COMMENT ON TABLE clinical.vital_sign IS 'Ward observations (vital_sign_*.csv) of admitted patients, between admission and discharge.';
COMMENT ON COLUMN clinical.vital_sign.respiratory_rate IS 'Breaths per minute.';
COMMENT ON COLUMN clinical.vital_sign.recorded_by_staff_id IS 'Nurse on shift in the ward.';
COMMENT ON COLUMN clinical.vital_sign.vital_sign_id IS 'The hospital system''s observation number (tick * 10^7 + sequence).';
COMMENT ON COLUMN clinical.vital_sign.record_date IS 'Simulated SAST day of measured_at; the partition key.';
COMMENT ON COLUMN clinical.vital_sign.patient_id IS 'The patient observed; checked against core.patient on load.';
COMMENT ON COLUMN clinical.vital_sign.ward_code IS 'Ward the patient was in.';
COMMENT ON COLUMN clinical.vital_sign.measured_at IS 'When the observation was taken (ISO 8601 SAST in the file).';
COMMENT ON COLUMN clinical.vital_sign.heart_rate_bpm IS 'Heart rate, beats per minute (accepted 20-250); NULL if not recorded.';
COMMENT ON COLUMN clinical.vital_sign.systolic_mmhg IS 'Systolic blood pressure, mmHg (accepted 40-300); NULL if not recorded.';
COMMENT ON COLUMN clinical.vital_sign.diastolic_mmhg IS 'Diastolic blood pressure, mmHg (accepted 20-200); NULL if not recorded.';
COMMENT ON COLUMN clinical.vital_sign.temperature_c IS 'Body temperature, degrees Celsius to one decimal (accepted 30-45); NULL if not taken.';
COMMENT ON COLUMN clinical.vital_sign.spo2_percent IS 'Peripheral oxygen saturation, percent (accepted 40-100); NULL if not recorded.';
COMMENT ON COLUMN clinical.vital_sign.file_id IS 'The ops.file_ledger row of the file that brought it.';

CREATE TABLE IF NOT EXISTS clinical.lab_result (
    lab_result_id       bigint      NOT NULL,
    record_date         date        NOT NULL,
    patient_id          bigint      NOT NULL,
    ward_code           text        NOT NULL,
    test_code           text        NOT NULL,
    test_name           text        NOT NULL,
    result_value        numeric     NULL,
    result_unit         text        NULL,
    abnormal_flag       text        NULL,
    resulted_at         timestamptz NOT NULL,
    ordering_staff_id   bigint      NOT NULL,
    file_id             bigint      NOT NULL,
    CONSTRAINT ck_lab_result_flag CHECK (abnormal_flag IN ('L', 'H', 'LL', 'HH'))
) PARTITION BY RANGE (record_date);
COMMENT ON TABLE clinical.lab_result IS 'Laboratory results (lab_result_*.csv, NHLS-style test codes).';
COMMENT ON COLUMN clinical.lab_result.abnormal_flag IS 'L/H outside the reference range, LL/HH critical; NULL when normal.';
COMMENT ON COLUMN clinical.lab_result.ordering_staff_id IS 'Doctor on shift in the ward who ordered the test.';
COMMENT ON COLUMN clinical.lab_result.lab_result_id IS 'The hospital system''s result number (tick * 10^7 + sequence).';
COMMENT ON COLUMN clinical.lab_result.record_date IS 'Simulated SAST day of resulted_at; the partition key.';
COMMENT ON COLUMN clinical.lab_result.patient_id IS 'The patient tested; checked against core.patient on load.';
COMMENT ON COLUMN clinical.lab_result.ward_code IS 'Ward the patient was in.';
COMMENT ON COLUMN clinical.lab_result.test_code IS 'NHLS-style test code, for example HB, CREAT or CD4.';
COMMENT ON COLUMN clinical.lab_result.test_name IS 'Test name, for example Haemoglobin.';
COMMENT ON COLUMN clinical.lab_result.result_value IS 'Measured value, in result_unit; NULL if none was reported.';
COMMENT ON COLUMN clinical.lab_result.result_unit IS 'Unit of result_value, for example g/dL, mmol/L or x10^9/L.';
COMMENT ON COLUMN clinical.lab_result.resulted_at IS 'When the result was reported (ISO 8601 SAST in the file).';
COMMENT ON COLUMN clinical.lab_result.file_id IS 'The ops.file_ledger row of the file that brought it.';

CREATE TABLE IF NOT EXISTS clinical.medication (
    medication_id       bigint      NOT NULL,
    record_date         date        NOT NULL,
    patient_id          bigint      NOT NULL,
    ward_code           text        NOT NULL,
    drug_name           text        NOT NULL,
    dose                text        NOT NULL,
    route               text        NOT NULL,
    administered_at     timestamptz NOT NULL,
    administered_by_staff_id bigint NOT NULL,
    file_id             bigint      NOT NULL,
    CONSTRAINT ck_medication_route CHECK (route IN ('oral', 'iv', 'im', 'sc', 'inhaled', 'topical', 'pr', 'sl'))
) PARTITION BY RANGE (record_date);
COMMENT ON TABLE clinical.medication IS 'Medicines administered on the wards (medication_*.csv; Essential Medicines List names).';
COMMENT ON COLUMN clinical.medication.administered_by_staff_id IS 'Nurse on shift in the ward.';
COMMENT ON COLUMN clinical.medication.medication_id IS 'The hospital system''s administration number (tick * 10^7 + sequence).';
COMMENT ON COLUMN clinical.medication.record_date IS 'Simulated SAST day of administered_at; the partition key.';
COMMENT ON COLUMN clinical.medication.patient_id IS 'The patient given the medicine; checked against core.patient on load.';
COMMENT ON COLUMN clinical.medication.ward_code IS 'Ward the patient was in.';
COMMENT ON COLUMN clinical.medication.drug_name IS 'Generic name from the Essential Medicines List, for example Ceftriaxone.';
COMMENT ON COLUMN clinical.medication.dose IS 'Dose given, with its unit, for example 1 g or 10 units.';
COMMENT ON COLUMN clinical.medication.route IS 'oral, iv, im, sc, inhaled, topical, pr (rectal) or sl (sublingual).';
COMMENT ON COLUMN clinical.medication.administered_at IS 'When the dose was given (ISO 8601 SAST in the file).';
COMMENT ON COLUMN clinical.medication.file_id IS 'The ops.file_ledger row of the file that brought it.';

-- Day partitions. The pipeline role owns no table, so it creates partitions through
-- ops.ensure_day_partitions, which runs with its owner's rights and touches only the clinical
-- schema's partitioned tables. It cannot drop any: the rolling window never drops data an
-- operator did not ask to drop. Dropping old days is `hospital prune --before YYYY-MM-DD`
-- (ops.drop_day_partitions_before, as the owner), and every partition it drops is recorded
-- in ops.partition_drop, so a loaded file whose rows are gone is explained.
--
-- Both functions run with search_path = pg_catalog, pg_temp: built-in functions and
-- operators resolve in pg_catalog first, a caller's temporary objects come last and can
-- shadow nothing, and every table they name is schema-qualified.
CREATE TABLE IF NOT EXISTS ops.partition_drop (
    partition_drop_id   bigint      GENERATED ALWAYS AS IDENTITY,
    table_name          text        NOT NULL,
    partition_name      text        NOT NULL,
    partition_day       date        NOT NULL,
    row_count           bigint      NOT NULL,
    file_ids            bigint[]    NOT NULL,
    dropped_at          timestamptz NOT NULL DEFAULT now(),
    dropped_by          text        NOT NULL DEFAULT session_user,
    CONSTRAINT pk_partition_drop PRIMARY KEY (partition_drop_id),
    CONSTRAINT ck_partition_drop_row_count CHECK (row_count >= 0)
);
COMMENT ON TABLE ops.partition_drop IS 'Every clinical day partition ever dropped (hospital prune), with the rows it held and the files they came from: why a loaded file''s rows may be gone.';
COMMENT ON COLUMN ops.partition_drop.partition_drop_id IS 'Surrogate key of the record.';
COMMENT ON COLUMN ops.partition_drop.table_name IS 'The partitioned clinical table, for example clinical.vital_sign.';
COMMENT ON COLUMN ops.partition_drop.partition_name IS 'The partition dropped, for example clinical.vital_sign_20260302.';
COMMENT ON COLUMN ops.partition_drop.partition_day IS 'The SAST day (record_date) the partition held.';
COMMENT ON COLUMN ops.partition_drop.row_count IS 'Rows the partition held when it was dropped (counted, not estimated).';
COMMENT ON COLUMN ops.partition_drop.file_ids IS 'The ops.file_ledger rows whose records the partition held, ascending; empty for an empty partition.';
COMMENT ON COLUMN ops.partition_drop.dropped_at IS 'When the partition was dropped (server clock, start of the dropping transaction).';
COMMENT ON COLUMN ops.partition_drop.dropped_by IS 'The database role the operator logged in as (session_user).';

-- The days a partition function accepts: finite, and in years 1-9999, because a partition is
-- named <table>_YYYYMMDD and a day outside those years would not fit (or would share a name).
CREATE OR REPLACE FUNCTION ops.check_partition_day(day date, argument text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF day IS NULL OR NOT isfinite(day) OR day < DATE '0001-01-01' OR day > DATE '9999-12-31' THEN
        RAISE EXCEPTION '% must be a day in the years 1-9999, got %', argument, coalesce(day::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
COMMENT ON FUNCTION ops.check_partition_day(date, text) IS 'Raise invalid_parameter_value unless day is a finite day in the years 1-9999 (partitions are named <table>_YYYYMMDD); argument names it in the message.';

-- A day partition takes a batch file's COPY directly: its record_date defaults to its day, and
-- the pipeline role may insert into it (a partition created later has no grant of its own).
CREATE OR REPLACE FUNCTION ops.prepare_direct_load(part regclass, day date)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ALTER COLUMN record_date SET DEFAULT %L', part, day);
    EXECUTE format('GRANT SELECT, INSERT ON %s TO hospital_ingest', part);
END
$$;
COMMENT ON FUNCTION ops.prepare_direct_load(regclass, date) IS 'Make a clinical day partition ready for a direct COPY: record_date defaults to its day, and hospital_ingest may insert into it. Called by ops.ensure_day_partitions for each partition it creates.';
REVOKE ALL ON FUNCTION ops.prepare_direct_load(regclass, date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ops.ensure_day_partitions(first_day date, last_day date)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- A loader asks for its window and a day ahead (10 days for the 9-day run); a span much
    -- longer than that is a mistake (a far-off --as-of, a wrong SIM_START), not a window.
    max_days constant integer := 62;
    parent text;
    day date;
    created integer := 0;
    partition_name text;
BEGIN
    PERFORM ops.check_partition_day(first_day, 'first_day');
    PERFORM ops.check_partition_day(last_day, 'last_day');
    IF last_day < first_day THEN
        RAISE EXCEPTION 'last_day % is before first_day %', last_day, first_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF last_day - first_day + 1 > max_days THEN
        RAISE EXCEPTION 'asked for % days of partitions (% to %); at most % at a time',
                        last_day - first_day + 1, first_day, last_day, max_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Two loaders may prepare the same days at once: one at a time, so neither trips
    -- over a partition the other has just created.
    PERFORM pg_advisory_xact_lock(hashtext('ops.ensure_day_partitions'));
    FOR parent IN
        SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'clinical' AND c.relkind = 'p'
    LOOP
        day := first_day;
        WHILE day <= last_day LOOP
            partition_name := parent || '_' || to_char(day, 'YYYYMMDD');
            IF to_regclass(format('clinical.%I', partition_name)) IS NULL THEN
                EXECUTE format('CREATE TABLE clinical.%I PARTITION OF clinical.%I FOR VALUES FROM (%L) TO (%L)',
                               partition_name, parent, day, day + 1);
                PERFORM ops.prepare_direct_load(format('clinical.%I', partition_name)::regclass, day);
                created := created + 1;
            END IF;
            day := day + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;
COMMENT ON FUNCTION ops.ensure_day_partitions(date, date) IS 'Create the missing day partitions of every clinical table for first_day..last_day (both finite, in order, at most 62 days); returns how many it made. The pipeline role may call it.';
-- Partitions made before direct loads: the same default and grant (idempotent).
DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT format('clinical.%I', child.relname)::regclass AS name, to_date(right(child.relname, 8), 'YYYYMMDD') AS day
        FROM pg_catalog.pg_inherits i
        JOIN pg_catalog.pg_class parent ON parent.oid = i.inhparent
        JOIN pg_catalog.pg_namespace n ON n.oid = parent.relnamespace
        JOIN pg_catalog.pg_class child ON child.oid = i.inhrelid
        WHERE n.nspname = 'clinical' AND parent.relkind = 'p' AND child.relname ~ '_[0-9]{8}$'
    LOOP
        PERFORM ops.prepare_direct_load(part.name, part.day);
    END LOOP;
END
$$;

-- The first version returned only a count; a function's result type cannot be replaced in place.
DO $$
BEGIN
    IF (SELECT prorettype FROM pg_proc WHERE oid = to_regprocedure('ops.drop_day_partitions_before(date)'))
       = 'integer'::regtype THEN
        DROP FUNCTION ops.drop_day_partitions_before(date);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION ops.drop_day_partitions_before(first_kept_day date)
RETURNS TABLE (dropped_table text, dropped_partition text, dropped_day date, dropped_rows bigint,
               dropped_file_ids bigint[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part record;
BEGIN
    PERFORM ops.check_partition_day(first_kept_day, 'first_kept_day');
    PERFORM pg_advisory_xact_lock(hashtext('ops.ensure_day_partitions'));
    FOR part IN
        SELECT format('clinical.%I', parent.relname) AS parent_name,
               format('clinical.%I', child.relname) AS child_name,
               to_date(right(child.relname, 8), 'YYYYMMDD') AS day
        FROM pg_catalog.pg_inherits i
        JOIN pg_catalog.pg_class parent ON parent.oid = i.inhparent
        JOIN pg_catalog.pg_namespace n ON n.oid = parent.relnamespace
        JOIN pg_catalog.pg_class child ON child.oid = i.inhrelid
        WHERE n.nspname = 'clinical' AND parent.relkind = 'p' AND child.relname ~ '_[0-9]{8}$'
        ORDER BY 3, 1
    LOOP
        CONTINUE WHEN part.day >= first_kept_day;
        -- Locked before counting, so no loader adds a row between the count and the drop (the
        -- parent first: dropping a partition locks it, and a loader locks parent, then child).
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', part.parent_name);
        EXECUTE format('SELECT count(*), coalesce(array_agg(DISTINCT file_id ORDER BY file_id), ''{}'') FROM %s',
                       part.child_name)
            INTO dropped_rows, dropped_file_ids;
        INSERT INTO ops.partition_drop (table_name, partition_name, partition_day, row_count, file_ids)
        VALUES (part.parent_name, part.child_name, part.day, dropped_rows, dropped_file_ids);
        EXECUTE format('DROP TABLE %s', part.child_name);
        dropped_table := part.parent_name;
        dropped_partition := part.child_name;
        dropped_day := part.day;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ops.drop_day_partitions_before(date) IS 'Operator only (hospital prune): drop the clinical day partitions before first_kept_day (a finite day), record each in ops.partition_drop, and return them with the rows they held and the ledger files those came from.';

REVOKE ALL ON FUNCTION ops.check_partition_day(date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.ensure_day_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.drop_day_partitions_before(date) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- ops.adt_outbox: what the HL7 v2 ADT relay publishes (producer/adt_relay.py)
-- ---------------------------------------------------------------------------
-- One row per stored admission (A01), completed transfer and discharge (A03), written by
-- statement-level triggers in the same transaction as the stored rows, so a row exists exactly
-- when what it announces is stored: a loader's savepoint rolled back, or a consumer batch that
-- never commits, leaves none, and every writer (the loader, the consumer, a hand-written INSERT)
-- is covered. Each trigger is one set-based INSERT ... SELECT over the statement's transition
-- table (REFERENCING NEW TABLE), never a row loop.
--
-- What a completed transfer becomes:
--   ward -> ward here           A02 (PV1-3 the new ward, PV1-6 the ward left)
--   ward -> another facility    A03, discharge disposition 02 (transferred to another hospital)
--   another facility -> ward    A01, admission from that facility (PV1-6 names it)
-- clinical.discharge rows are A03 and clinical.admission rows A01, whatever their kind: the
-- batch files and the stream are separate feeds of the hospital system, with no shared key.
--
-- The relay publishes the stable prefix only: rows whose xid is below the oldest transaction
-- still running (pg_snapshot_xmin(pg_current_snapshot())), in (xid, adt_outbox_id) order. No
-- row can later appear below that point, so the position of the last published row (carried by
-- every Kafka message) is all the relay needs to resume. A long transaction anywhere in the
-- cluster (a population bulk load) holds the prefix back until it ends; it never reorders it.
CREATE TABLE IF NOT EXISTS ops.adt_outbox (
    adt_outbox_id   bigint      GENERATED ALWAYS AS IDENTITY,
    xid             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    trigger_event   text        NOT NULL,
    source_table    text        NOT NULL,
    source_id       text        NOT NULL,
    patient_id      bigint      NOT NULL,
    event_time      timestamptz NOT NULL,
    source_row      jsonb       NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_adt_outbox PRIMARY KEY (adt_outbox_id),
    CONSTRAINT uq_adt_outbox_source UNIQUE (source_table, source_id),
    CONSTRAINT ck_adt_outbox_trigger_event CHECK (trigger_event IN ('A01', 'A02', 'A03')),
    CONSTRAINT ck_adt_outbox_source_table CHECK (source_table IN
        ('clinical.admission', 'clinical.discharge', 'stream.transfer_event'))
);
CREATE INDEX IF NOT EXISTS ix_adt_outbox_position ON ops.adt_outbox (xid, adt_outbox_id);
COMMENT ON TABLE ops.adt_outbox IS 'One row per stored admission, completed transfer and discharge, written in the storing transaction; the HL7 v2 ADT relay publishes them in (xid, adt_outbox_id) order, each exactly once.';
COMMENT ON COLUMN ops.adt_outbox.adt_outbox_id IS 'Order of the row within its transaction (identity); with xid, its position.';
COMMENT ON COLUMN ops.adt_outbox.xid IS 'The storing transaction (pg_current_xact_id()); the relay publishes only rows below the oldest running transaction.';
COMMENT ON COLUMN ops.adt_outbox.trigger_event IS 'HL7 v2 trigger event: A01 admit, A02 transfer, A03 discharge.';
COMMENT ON COLUMN ops.adt_outbox.source_table IS 'The table of the stored row: clinical.admission, clinical.discharge or stream.transfer_event.';
COMMENT ON COLUMN ops.adt_outbox.source_id IS 'The stored row''s key as text: admission_id, discharge_id or event_id.';
COMMENT ON COLUMN ops.adt_outbox.patient_id IS 'The patient of the stored row.';
COMMENT ON COLUMN ops.adt_outbox.event_time IS 'When it happened: admitted_at, discharged_at or the completed transfer''s event_time.';
COMMENT ON COLUMN ops.adt_outbox.source_row IS 'The stored row as written (to_jsonb), so the message survives a pruned day partition.';
COMMENT ON COLUMN ops.adt_outbox.stored_at IS 'Start of the storing transaction (server clock).';

CREATE OR REPLACE FUNCTION ops.adt_outbox_from_admission()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO ops.adt_outbox (trigger_event, source_table, source_id, patient_id, event_time, source_row)
    SELECT 'A01', 'clinical.admission', n.admission_id::text, n.patient_id, n.admitted_at, to_jsonb(n)
    FROM stored n ORDER BY n.admission_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.adt_outbox_from_admission() IS 'Statement trigger function: an A01 outbox row for every clinical.admission row the statement inserted.';

CREATE OR REPLACE FUNCTION ops.adt_outbox_from_discharge()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO ops.adt_outbox (trigger_event, source_table, source_id, patient_id, event_time, source_row)
    SELECT 'A03', 'clinical.discharge', n.discharge_id::text, n.patient_id, n.discharged_at, to_jsonb(n)
    FROM stored n ORDER BY n.discharge_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.adt_outbox_from_discharge() IS 'Statement trigger function: an A03 outbox row for every clinical.discharge row the statement inserted.';

CREATE OR REPLACE FUNCTION ops.adt_outbox_from_transfer_event()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO ops.adt_outbox (trigger_event, source_table, source_id, patient_id, event_time, source_row)
    SELECT CASE WHEN n.from_ward_code IS NOT NULL AND n.to_ward_code IS NOT NULL THEN 'A02'
                WHEN n.to_facility_code IS NOT NULL THEN 'A03'
                ELSE 'A01' END,
           'stream.transfer_event', n.event_id::text, n.patient_id, n.event_time, to_jsonb(n)
    FROM stored n WHERE n.status = 'completed' ORDER BY n.kafka_partition, n.kafka_offset;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.adt_outbox_from_transfer_event() IS 'Statement trigger function: an outbox row for every completed transfer event the statement inserted: A02 ward to ward, A03 ward to another facility, A01 another facility to a ward.';

CREATE OR REPLACE TRIGGER tg_admission_adt_outbox
    AFTER INSERT ON clinical.admission REFERENCING NEW TABLE AS stored
    FOR EACH STATEMENT EXECUTE FUNCTION ops.adt_outbox_from_admission();
CREATE OR REPLACE TRIGGER tg_discharge_adt_outbox
    AFTER INSERT ON clinical.discharge REFERENCING NEW TABLE AS stored
    FOR EACH STATEMENT EXECUTE FUNCTION ops.adt_outbox_from_discharge();
CREATE OR REPLACE TRIGGER tg_transfer_event_adt_outbox
    AFTER INSERT ON stream.transfer_event REFERENCING NEW TABLE AS stored
    FOR EACH STATEMENT EXECUTE FUNCTION ops.adt_outbox_from_transfer_event();
COMMENT ON TRIGGER tg_admission_adt_outbox ON clinical.admission IS 'A01 outbox rows in the storing transaction (ops.adt_outbox_from_admission).';
COMMENT ON TRIGGER tg_discharge_adt_outbox ON clinical.discharge IS 'A03 outbox rows in the storing transaction (ops.adt_outbox_from_discharge).';
COMMENT ON TRIGGER tg_transfer_event_adt_outbox ON stream.transfer_event IS 'Outbox rows for completed transfers in the storing transaction (ops.adt_outbox_from_transfer_event).';

-- ---------------------------------------------------------------------------
-- Bulk loading an empty population table (database/load_population.py)
-- ---------------------------------------------------------------------------
-- Keeping the primary key, a unique index or a foreign key up to date row by row is most of the
-- cost of loading people.csv and the roster; building each index once after the COPY, and
-- checking a foreign key with one query over the whole table, is several times faster. The
-- pipeline role has no DDL rights, so two functions with their owner's rights do it, for the
-- population tables only and only while the table is empty, inside the caller's transaction:
--   ops.begin_population_load(table)  locks the table, and if it is empty records in
--                                     ops.population_load the definitions of its primary key,
--                                     unique constraints, secondary indexes and foreign keys, and
--                                     of the foreign keys of other tables that refer to it (no row
--                                     can refer to an empty table, so adding them back checks
--                                     nothing but NULLs); drops them all, foreign keys first;
--                                     truncates the table, which is empty, so that COPY ... FREEZE
--                                     may write its rows frozen and all-visible (no later pass of
--                                     VACUUM or hint bits over 5 million rows); and returns true.
--                                     On a table with rows it changes nothing and returns false
--   ops.finish_population_load(table) builds each recorded object again from its recorded
--                                     definition, primary key first (each index built once, each
--                                     foreign key checked by one query), compares the result with
--                                     the record and deletes the record
-- DDL is transactional: if the COPY or a rebuild fails (a duplicate ID number, a patient who is
-- no person) the transaction rolls back and every table has every constraint it had. A
-- transaction that has begun a load cannot commit without finishing it: a deferred trigger
-- refuses the commit while ops.population_load still holds its rows. Check constraints stay on
-- the table throughout (COPY checks them row by row, which costs what a later validation would).
CREATE TABLE IF NOT EXISTS ops.population_load (
    table_name      text        NOT NULL,
    object_name     text        NOT NULL,
    object_kind     text        NOT NULL,
    definition      text        NOT NULL,
    rebuild_order   integer     NOT NULL,
    begun_at        timestamptz NOT NULL DEFAULT now(),
    object_table    text        NOT NULL,  -- last: a warehouse made before it gets it by ALTER TABLE below
    CONSTRAINT pk_population_load PRIMARY KEY (table_name, object_table, object_name),
    CONSTRAINT ck_population_load_kind CHECK (object_kind IN ('primary_key', 'index', 'unique', 'foreign_key'))
);
-- A warehouse made when only a table's own secondary objects were dropped gets the column of the
-- table an object belongs to, and the new kind. The table never holds a committed row (see below),
-- so its shape can change in place.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'ops.population_load'::regclass
                                              AND attname = 'object_table' AND NOT attisdropped) THEN
        ALTER TABLE ops.population_load
            ADD COLUMN object_table text NOT NULL,
            DROP CONSTRAINT pk_population_load,
            ADD CONSTRAINT pk_population_load PRIMARY KEY (table_name, object_table, object_name),
            DROP CONSTRAINT ck_population_load_kind,
            ADD CONSTRAINT ck_population_load_kind CHECK (object_kind IN ('primary_key', 'index', 'unique', 'foreign_key'));
    END IF;
END
$$;
COMMENT ON TABLE ops.population_load IS 'Indexes and constraints dropped for the bulk load of a population table and not yet rebuilt; rows live only inside the loading transaction (a deferred trigger refuses to commit any), so a committed row never exists.';
COMMENT ON COLUMN ops.population_load.table_name IS 'The population table being loaded, for example core.person.';
COMMENT ON COLUMN ops.population_load.object_table IS 'The table the index or constraint belongs to: the loaded table, or for a foreign key that refers to it another table (core.patient for fk_patient_person).';
COMMENT ON COLUMN ops.population_load.object_name IS 'Name of the index or constraint dropped, for example uq_person_sa_id_number.';
COMMENT ON COLUMN ops.population_load.object_kind IS 'primary_key, index (a secondary index), unique (a unique constraint) or foreign_key.';
COMMENT ON COLUMN ops.population_load.definition IS 'Its definition as the catalog gave it before the drop (pg_get_indexdef or pg_get_constraintdef); the rebuild runs exactly this.';
COMMENT ON COLUMN ops.population_load.rebuild_order IS 'Order of the rebuild: the primary key, then indexes and unique constraints, then foreign keys (the drop runs the other way).';
COMMENT ON COLUMN ops.population_load.begun_at IS 'When the load began (start of its transaction).';

CREATE OR REPLACE FUNCTION ops.population_table(target regclass)
RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF target IS NULL OR target NOT IN ('core.person'::regclass, 'core.patient'::regclass, 'core.staff'::regclass,
                                         'core.doctor'::regclass, 'core.staff_assignment'::regclass) THEN
        RAISE EXCEPTION '% is not a population table (core.person, core.patient, core.staff, core.doctor, core.staff_assignment)',
                        coalesce(target::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN target;
END
$$;
COMMENT ON FUNCTION ops.population_table(regclass) IS 'Return target if it is one of the population tables that ops.begin_population_load may bulk load, else raise invalid_parameter_value.';

CREATE OR REPLACE FUNCTION ops.begin_population_load(target regclass)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    object record;
    has_rows boolean;
BEGIN
    PERFORM ops.population_table(target);
    IF EXISTS (SELECT 1 FROM ops.population_load WHERE table_name = target::text) THEN
        RAISE EXCEPTION 'a load of % has already begun in this transaction', target
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- A table with rows takes the caller's idempotent path, and is not locked against its readers.
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', target) INTO has_rows;
    IF has_rows THEN
        RETURN false;
    END IF;
    -- Empty: lock it, so no other session adds a row between the check and the drops, and look again.
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', target);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', target) INTO has_rows;
    IF has_rows THEN
        RETURN false;
    END IF;
    INSERT INTO ops.population_load (table_name, object_table, object_name, object_kind, definition, rebuild_order)
    -- The primary key and the unique constraints.
    SELECT target::text, target::text, c.conname, CASE c.contype WHEN 'p' THEN 'primary_key' ELSE 'unique' END,
           pg_get_constraintdef(c.oid), CASE c.contype WHEN 'p' THEN 0 ELSE 1 END
    FROM pg_constraint c
    WHERE c.conrelid = target AND c.contype IN ('p', 'u')
    UNION ALL
    -- Indexes that belong to no constraint.
    SELECT target::text, target::text, i.indexrelid::regclass::text, 'index', pg_get_indexdef(i.indexrelid), 1
    FROM pg_index i
    WHERE i.indrelid = target
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = target AND c.conindid = i.indexrelid
                                                        AND c.contype IN ('p', 'u', 'x'))
    UNION ALL
    -- Its foreign keys, and those of other tables that refer to it.
    SELECT target::text, c.conrelid::regclass::text, c.conname, 'foreign_key', pg_get_constraintdef(c.oid), 2
    FROM pg_constraint c
    WHERE c.contype = 'f' AND (c.conrelid = target OR c.confrelid = target);
    FOR object IN
        SELECT object_table, object_name, object_kind FROM ops.population_load
        WHERE table_name = target::text ORDER BY rebuild_order DESC, object_table, object_name
    LOOP
        IF object.object_kind = 'index' THEN
            EXECUTE format('DROP INDEX %s', object.object_name);
        ELSE
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', object.object_table, object.object_name);
        END IF;
    END LOOP;
    -- Nothing refers to the table any more, so it can be truncated: it is empty, and afterwards
    -- it counts as emptied in this transaction, which COPY ... FREEZE requires.
    EXECUTE format('TRUNCATE %s', target);
    RETURN true;
END
$$;
COMMENT ON FUNCTION ops.begin_population_load(regclass) IS 'Bulk load of an empty population table: lock it; if it has rows return false and change nothing; else record and drop its primary key, unique constraints, secondary indexes and foreign keys and the foreign keys that refer to it, truncate it (so that COPY FREEZE applies) and return true. The transaction must call ops.finish_population_load before it commits. The pipeline role may call it.';

CREATE OR REPLACE FUNCTION ops.finish_population_load(target regclass)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    -- Room for the index sorts: 5 million person ids take about 400 MB to sort in memory, and a
    -- parallel build shares this among its processes. At 256 MB each of the three processes
    -- sorted a third in runs on disk: the primary key took 1.7 s and the ID numbers' index 3.0 s,
    -- against 1.0-1.1 s and 2.0 s with 1 GB (the memory is taken only as a sort needs it).
    SET maintenance_work_mem = '1GB'
    -- A foreign key is checked by one anti-join of its table with the referenced key. PostgreSQL 15
    -- can only hash the referenced side, and chose to for the people: a hash table of 5 million
    -- person ids to check 970,000 guardians (3.4-3.6 s) or 600,000 patients, where a merge or
    -- index join over the freshly built primary key takes 1.7 s for the guardians. The small
    -- referenced tables cost a few tenths of a second more this way.
    SET enable_hashjoin = off
AS $$
DECLARE
    object record;
    rebuilt text;
    rebuilt_count integer := 0;
BEGIN
    PERFORM ops.population_table(target);
    IF NOT EXISTS (SELECT 1 FROM ops.population_load WHERE table_name = target::text) THEN
        RAISE EXCEPTION 'no load of % has begun in this transaction', target
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOR object IN
        SELECT object_table, object_name, object_kind, definition FROM ops.population_load
        WHERE table_name = target::text ORDER BY rebuild_order, object_table, object_name
    LOOP
        -- An index or unique constraint is built in one pass (and a duplicate is an error here);
        -- a foreign key added to a full table is checked by one query over it, not row by row.
        IF object.object_kind = 'index' THEN
            EXECUTE object.definition;
            rebuilt := pg_get_indexdef(to_regclass(object.object_name));
        ELSE
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', object.object_table, object.object_name,
                           object.definition);
            SELECT pg_get_constraintdef(c.oid) INTO rebuilt FROM pg_constraint c
            WHERE c.conrelid = object.object_table::regclass AND c.conname = object.object_name AND c.convalidated;
        END IF;
        IF rebuilt IS DISTINCT FROM object.definition THEN
            RAISE EXCEPTION '% of % was rebuilt as %, not as %', object.object_name, object.object_table,
                            coalesce(rebuilt, 'nothing'), object.definition;
        END IF;
        rebuilt_count := rebuilt_count + 1;
    END LOOP;
    DELETE FROM ops.population_load WHERE table_name = target::text;
    RETURN rebuilt_count;
END
$$;
COMMENT ON FUNCTION ops.finish_population_load(regclass) IS 'End a bulk load begun by ops.begin_population_load: rebuild every index and constraint it dropped from its recorded definition, the primary key first (foreign keys checked once over their table), check each came back as recorded, and return how many. The pipeline role may call it.';

CREATE OR REPLACE FUNCTION ops.refuse_unfinished_population_load()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ops.population_load WHERE table_name = NEW.table_name AND object_table = NEW.object_table
                                                   AND object_name = NEW.object_name) THEN
        RAISE EXCEPTION 'the load of % was not finished: committing would leave it without %', NEW.table_name, NEW.object_name
            USING HINT = 'Call ops.finish_population_load before COMMIT, or roll back.',
                  ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ops.refuse_unfinished_population_load() IS 'Deferred trigger function: refuse to commit a transaction that dropped a population table''s index or constraint (ops.begin_population_load) and did not rebuild it.';

-- A constraint trigger is a constraint (pg_constraint holds it), so it is named like the checks.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ck_population_load_finished'
                                             AND tgrelid = 'ops.population_load'::regclass) THEN
        CREATE CONSTRAINT TRIGGER ck_population_load_finished
            AFTER INSERT ON ops.population_load DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION ops.refuse_unfinished_population_load();
    END IF;
END
$$;
COMMENT ON TRIGGER ck_population_load_finished ON ops.population_load IS 'At commit, refuse a population load that was begun and not finished (ops.refuse_unfinished_population_load).';

REVOKE ALL ON FUNCTION ops.population_table(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.begin_population_load(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.finish_population_load(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION ops.refuse_unfinished_population_load() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- The audit trail is final: ledger rows once finished, rejected rows and quarantined events
-- (the pipeline role may only add those two; see Privileges)
-- ---------------------------------------------------------------------------
-- A loader claims a file (finished_at NULL) and completes its row in the same transaction
-- (database/ledger.py); once finished_at is set the row is what happened, for every role.
CREATE OR REPLACE FUNCTION ops.keep_finished_ledger_row()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.finished_at IS NOT NULL THEN
        RAISE EXCEPTION 'ops.file_ledger row % (%) was finished at %; a finished ledger row cannot be changed or deleted',
                        OLD.file_id, OLD.file_name, OLD.finished_at
            USING HINT = 'The ledger is the audit trail of the batch loads. To empty a whole warehouse, an operator runs hospital run --fresh.';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION ops.keep_finished_ledger_row() IS 'Trigger function: refuse to UPDATE or DELETE an ops.file_ledger row whose finished_at is set.';

CREATE OR REPLACE TRIGGER tg_file_ledger_finished_is_final
    BEFORE UPDATE OR DELETE ON ops.file_ledger
    FOR EACH ROW EXECUTE FUNCTION ops.keep_finished_ledger_row();
COMMENT ON TRIGGER tg_file_ledger_finished_is_final ON ops.file_ledger IS 'A finished ledger row is final, whoever asks (ops.keep_finished_ledger_row).';

-- ---------------------------------------------------------------------------
-- private: the key of the analysts' pseudonyms
-- ---------------------------------------------------------------------------
-- One random 256-bit key, made the first time this file runs and never replaced (a new key
-- would change every pseudonym). No role but the owner may use the schema: analytics.person
-- reads the key with its owner's rights; an analyst sees only the keyed hashes.
CREATE TABLE IF NOT EXISTS private.pseudonym_key (
    pseudonym_key_id    integer     NOT NULL,
    secret_key          bytea       NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_pseudonym_key PRIMARY KEY (pseudonym_key_id),
    CONSTRAINT ck_pseudonym_key_single CHECK (pseudonym_key_id = 1),
    CONSTRAINT ck_pseudonym_key_length CHECK (octet_length(secret_key) = 32)
);
COMMENT ON TABLE private.pseudonym_key IS 'The secret HMAC-SHA-256 key of analytics.person.identity_pseudonym: one row, made once by init_db.sql, readable by the owner only.';
COMMENT ON COLUMN private.pseudonym_key.pseudonym_key_id IS 'Always 1: there is one key.';
COMMENT ON COLUMN private.pseudonym_key.secret_key IS '32 random bytes (pgcrypto gen_random_bytes). Whoever holds them can test guessed ID numbers against the pseudonyms: never export them.';
COMMENT ON COLUMN private.pseudonym_key.created_at IS 'When the key was made (server clock).';
INSERT INTO private.pseudonym_key (pseudonym_key_id, secret_key)
VALUES (1, gen_random_bytes(32))
ON CONFLICT (pseudonym_key_id) DO NOTHING;

-- ---------------------------------------------------------------------------
-- Upgrade of a warehouse made by the first version of this file: per-file id claims
-- (ops.file_ledger.record_ids, added where that table is made) replace the clinical
-- tables' primary keys.
-- ---------------------------------------------------------------------------
ALTER TABLE clinical.admission DROP CONSTRAINT IF EXISTS pk_admission;
ALTER TABLE clinical.discharge DROP CONSTRAINT IF EXISTS pk_discharge;
ALTER TABLE clinical.diagnosis DROP CONSTRAINT IF EXISTS pk_diagnosis;
ALTER TABLE clinical.vital_sign DROP CONSTRAINT IF EXISTS pk_vital_sign;
ALTER TABLE clinical.lab_result DROP CONSTRAINT IF EXISTS pk_lab_result;
ALTER TABLE clinical.medication DROP CONSTRAINT IF EXISTS pk_medication;

-- A simple batch file is COPYed straight into its day's partition (database/batch_ingest.py),
-- so the tables themselves refuse what the loader's checks refuse: every id at least 0, every
-- text 1-200 characters, the ranges of the vital signs, and a record_date that is the SAST day
-- of the event. COPY names only the file's columns: the partition's default gives record_date
-- (its day, set by ops.ensure_day_partitions) and the loader's transaction gives file_id
-- (SET LOCAL hospital.file_id). A row that breaks any of these makes the COPY fail, and the
-- loader takes the file through its staging tables instead, where each row gets its reason.
ALTER TABLE clinical.admission ALTER COLUMN file_id SET DEFAULT current_setting('hospital.file_id')::bigint;
ALTER TABLE clinical.discharge ALTER COLUMN file_id SET DEFAULT current_setting('hospital.file_id')::bigint;
ALTER TABLE clinical.diagnosis ALTER COLUMN file_id SET DEFAULT current_setting('hospital.file_id')::bigint;
ALTER TABLE clinical.vital_sign ALTER COLUMN file_id SET DEFAULT current_setting('hospital.file_id')::bigint;
ALTER TABLE clinical.lab_result ALTER COLUMN file_id SET DEFAULT current_setting('hospital.file_id')::bigint;
ALTER TABLE clinical.medication ALTER COLUMN file_id SET DEFAULT current_setting('hospital.file_id')::bigint;
DO $$
DECLARE
    rule record;
BEGIN
    FOR rule IN
        SELECT * FROM (VALUES
            ('admission', 'ck_admission_values',
             'admission_id >= 0 AND patient_id >= 0 AND person_id >= 0 AND attending_staff_id >= 0
              AND length(ward_code) BETWEEN 1 AND 200
              AND record_date = (admitted_at AT TIME ZONE interval ''+02:00'')::date'),
            ('discharge', 'ck_discharge_values',
             'discharge_id >= 0 AND admission_id >= 0 AND patient_id >= 0 AND discharging_staff_id >= 0
              AND length(ward_code) BETWEEN 1 AND 200
              AND record_date = (discharged_at AT TIME ZONE interval ''+02:00'')::date'),
            ('diagnosis', 'ck_diagnosis_values',
             'diagnosis_id >= 0 AND admission_id >= 0 AND patient_id >= 0 AND diagnosing_staff_id >= 0
              AND length(icd10_code) BETWEEN 1 AND 200
              AND record_date = (diagnosed_at AT TIME ZONE interval ''+02:00'')::date'),
            ('vital_sign', 'ck_vital_sign_values',
             'vital_sign_id >= 0 AND patient_id >= 0 AND recorded_by_staff_id >= 0
              AND length(ward_code) BETWEEN 1 AND 200
              AND heart_rate_bpm BETWEEN 20 AND 250 AND systolic_mmhg BETWEEN 40 AND 300
              AND diastolic_mmhg BETWEEN 20 AND 200 AND respiratory_rate BETWEEN 4 AND 80
              AND temperature_c BETWEEN 30 AND 45 AND spo2_percent BETWEEN 40 AND 100
              AND record_date = (measured_at AT TIME ZONE interval ''+02:00'')::date'),
            ('lab_result', 'ck_lab_result_values',
             'lab_result_id >= 0 AND patient_id >= 0 AND ordering_staff_id >= 0
              AND length(ward_code) BETWEEN 1 AND 200 AND length(test_code) BETWEEN 1 AND 200
              AND length(test_name) BETWEEN 1 AND 200 AND length(result_unit) BETWEEN 1 AND 200
              AND record_date = (resulted_at AT TIME ZONE interval ''+02:00'')::date'),
            ('medication', 'ck_medication_values',
             'medication_id >= 0 AND patient_id >= 0 AND administered_by_staff_id >= 0
              AND length(ward_code) BETWEEN 1 AND 200 AND length(drug_name) BETWEEN 1 AND 200
              AND length(dose) BETWEEN 1 AND 200
              AND record_date = (administered_at AT TIME ZONE interval ''+02:00'')::date')
        ) AS r (table_name, constraint_name, expression)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = rule.constraint_name
                                                     AND conrelid = ('clinical.' || rule.table_name)::regclass) THEN
            EXECUTE format('ALTER TABLE clinical.%I ADD CONSTRAINT %I CHECK (%s)',
                           rule.table_name, rule.constraint_name, rule.expression);
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Indexes (apart from the tables, so bulk loads can come first)
-- ---------------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS ix_patient_current_ward ON core.patient (current_ward_code);
CREATE INDEX IF NOT EXISTS ix_staff_assignment_ward_shift ON core.staff_assignment (ward_code, shift_start);
CREATE INDEX IF NOT EXISTS ix_transfer_patient ON stream.transfer (patient_id);
CREATE INDEX IF NOT EXISTS ix_rejected_row_file ON ops.rejected_row (file_id);
CREATE INDEX IF NOT EXISTS ix_admission_patient ON clinical.admission (patient_id);

-- ---------------------------------------------------------------------------
-- analytics: what analysts read; personal identifiers masked
-- ---------------------------------------------------------------------------
-- The pseudonym is keyed: an unkeyed hash of an ID number is reversed by trying the few
-- million IDs that fit a birth year and sex. The key comes from an uncorrelated subquery,
-- which PostgreSQL runs once per query (an InitPlan), not once per row.
CREATE OR REPLACE VIEW analytics.person AS
SELECT p.person_id,
       left(encode(hmac(convert_to('person:' || coalesce(p.sa_id_number, p.passport_number), 'UTF8'),
                        (SELECT k.secret_key FROM private.pseudonym_key k WHERE k.pseudonym_key_id = 1),
                        'sha256'), 'hex'), 16)
           AS identity_pseudonym,
       p.sex,
       extract(year FROM p.date_of_birth)::integer AS birth_year,
       p.citizenship,
       p.suburb,
       p.city,
       p.province,
       p.postal_code,
       p.medical_aid IS NOT NULL AS has_medical_aid,
       p.guardian_person_id
FROM core.person p;
COMMENT ON VIEW analytics.person IS 'People without names, ID or passport numbers, phone, email, street address or exact date of birth; identity replaced by a stable keyed pseudonym.';
COMMENT ON COLUMN analytics.person.person_id IS 'As core.person.person_id.';
COMMENT ON COLUMN analytics.person.identity_pseudonym IS 'First 16 hex digits of HMAC-SHA-256, under a secret key analysts cannot read (private.pseudonym_key), of person: and the SA ID (or passport) number. Stable across loads and queries, so a join key; not reversible by trying ID numbers.';
COMMENT ON COLUMN analytics.person.sex IS 'F or M.';
COMMENT ON COLUMN analytics.person.birth_year IS 'Year of birth only.';
COMMENT ON COLUMN analytics.person.citizenship IS 'citizen, permanent_resident or foreign_national.';
COMMENT ON COLUMN analytics.person.suburb IS 'Suburb or township of residence.';
COMMENT ON COLUMN analytics.person.city IS 'City or metropolitan municipality of the suburb.';
COMMENT ON COLUMN analytics.person.province IS 'Province of the suburb.';
COMMENT ON COLUMN analytics.person.postal_code IS 'Four-digit postal code of the suburb.';
COMMENT ON COLUMN analytics.person.guardian_person_id IS 'For a child under 12, the person_id of the guardian whose household the child lives in; NULL for everyone else.';
COMMENT ON COLUMN analytics.person.has_medical_aid IS 'True when the person belongs to a medical scheme (the scheme is not shown).';

CREATE OR REPLACE VIEW analytics.patient AS
SELECT pt.patient_id, pt.person_id, pt.registration_date, pt.blood_group, pt.chronic_conditions,
       pt.current_ward_code, pt.current_ward_since
FROM core.patient pt;
COMMENT ON VIEW analytics.patient IS 'Patients without the hospital number (which identifies a folder).';
COMMENT ON COLUMN analytics.patient.patient_id IS 'As core.patient.patient_id.';
COMMENT ON COLUMN analytics.patient.person_id IS 'The person this patient is (analytics.person).';
COMMENT ON COLUMN analytics.patient.registration_date IS 'Day the patient was first registered at the hospital.';
COMMENT ON COLUMN analytics.patient.blood_group IS 'ABO and RhD group, for example O+.';
COMMENT ON COLUMN analytics.patient.chronic_conditions IS 'Semicolon-separated WHO ICD-10 codes of chronic conditions.';
COMMENT ON COLUMN analytics.patient.current_ward_code IS 'Ward the patient is in now; NULL when not admitted.';
COMMENT ON COLUMN analytics.patient.current_ward_since IS 'When the patient arrived in current_ward_code; NULL when not admitted.';

CREATE OR REPLACE VIEW analytics.transfer AS
SELECT transfer_id, patient_id, version, status, from_ward_code, from_facility_code,
       to_ward_code, to_facility_code, reason, priority, authorising_staff_id, event_time
FROM stream.transfer;
COMMENT ON VIEW analytics.transfer IS 'Current state of every transfer.';
COMMENT ON COLUMN analytics.transfer.transfer_id IS 'UUID of the transfer.';
COMMENT ON COLUMN analytics.transfer.patient_id IS 'The patient being transferred.';
COMMENT ON COLUMN analytics.transfer.version IS 'Latest version stored, from 1.';
COMMENT ON COLUMN analytics.transfer.status IS 'requested, accepted, in_transit, completed or cancelled.';
COMMENT ON COLUMN analytics.transfer.from_ward_code IS 'Ward the patient leaves; NULL when they come from another facility.';
COMMENT ON COLUMN analytics.transfer.from_facility_code IS 'Facility the patient comes from; NULL when they leave a ward here.';
COMMENT ON COLUMN analytics.transfer.to_ward_code IS 'Ward the patient goes to; NULL when the destination is another facility.';
COMMENT ON COLUMN analytics.transfer.to_facility_code IS 'Facility the patient goes to; NULL when the destination is a ward here.';
COMMENT ON COLUMN analytics.transfer.reason IS 'Free-text clinical reason, for example needs ICU care.';
COMMENT ON COLUMN analytics.transfer.priority IS 'routine, urgent or emergency.';
COMMENT ON COLUMN analytics.transfer.authorising_staff_id IS 'Doctor who authorised the transfer.';
COMMENT ON COLUMN analytics.transfer.event_time IS 'When the latest stored version happened.';

CREATE OR REPLACE VIEW analytics.bed_occupancy AS
SELECT w.ward_code,
       w.ward_name,
       w.ward_type,
       w.bed_count AS beds,
       count(p.patient_id)::integer AS occupied,
       round(100.0 * count(p.patient_id) / nullif(w.bed_count, 0), 1) AS occupancy_percent
FROM reference.ward w
LEFT JOIN core.patient p ON p.current_ward_code = w.ward_code
GROUP BY w.ward_code;
COMMENT ON VIEW analytics.bed_occupancy IS 'Beds and patients in each ward now (core.patient.current_ward_code, kept by the transfer consumer).';
COMMENT ON COLUMN analytics.bed_occupancy.ward_code IS 'Ward, for example W03.';
COMMENT ON COLUMN analytics.bed_occupancy.ward_name IS 'Name on the ward sign.';
COMMENT ON COLUMN analytics.bed_occupancy.ward_type IS 'general, icu, high_care, maternity, neonatal, paediatric, emergency, theatre, psychiatric.';
COMMENT ON COLUMN analytics.bed_occupancy.beds IS 'Commissioned beds.';
COMMENT ON COLUMN analytics.bed_occupancy.occupied IS 'Patients whose current ward it is.';
COMMENT ON COLUMN analytics.bed_occupancy.occupancy_percent IS '100 * occupied / beds, one decimal; above 100 when patients outnumber beds; NULL for a ward without beds.';

CREATE OR REPLACE VIEW analytics.transfers_by_ward AS
SELECT coalesce(t.from_ward_code, t.from_facility_code) AS from_place,
       coalesce(t.to_ward_code, t.to_facility_code) AS to_place,
       count(*) FILTER (WHERE t.status = 'requested')::integer AS requested,
       count(*) FILTER (WHERE t.status = 'accepted')::integer AS accepted,
       count(*) FILTER (WHERE t.status = 'in_transit')::integer AS in_transit,
       count(*) FILTER (WHERE t.status = 'completed')::integer AS completed,
       count(*) FILTER (WHERE t.status = 'cancelled')::integer AS cancelled,
       count(*)::integer AS transfers
FROM stream.transfer t
GROUP BY 1, 2;
COMMENT ON VIEW analytics.transfers_by_ward IS 'Transfers per route (from ward or facility, to ward or facility), counted by their current status.';
COMMENT ON COLUMN analytics.transfers_by_ward.from_place IS 'Ward the patients leave (W..), or the facility code when they come from another facility.';
COMMENT ON COLUMN analytics.transfers_by_ward.to_place IS 'Ward the patients go to (W..), or the facility code when they leave for another facility.';
COMMENT ON COLUMN analytics.transfers_by_ward.requested IS 'Transfers on this route whose latest status is requested.';
COMMENT ON COLUMN analytics.transfers_by_ward.accepted IS 'Transfers on this route whose latest status is accepted.';
COMMENT ON COLUMN analytics.transfers_by_ward.in_transit IS 'Transfers on this route whose latest status is in_transit.';
COMMENT ON COLUMN analytics.transfers_by_ward.completed IS 'Transfers on this route that completed.';
COMMENT ON COLUMN analytics.transfers_by_ward.cancelled IS 'Transfers on this route that were cancelled.';
COMMENT ON COLUMN analytics.transfers_by_ward.transfers IS 'All transfers on this route.';

CREATE OR REPLACE VIEW analytics.staff_shift AS
SELECT a.ward_code,
       a.staff_id,
       s.staff_category,
       s.job_title,
       s.sanc_category,
       d.grade,
       d.speciality_code,
       a.shift_kind,
       a.shift_start,
       a.shift_end,
       a.covers_for_staff_id
FROM core.staff_assignment a
JOIN core.staff s ON s.staff_id = a.staff_id
LEFT JOIN core.doctor d ON d.staff_id = a.staff_id;
COMMENT ON VIEW analytics.staff_shift IS 'The shift roster without names or registration numbers; analytics.staff_on_shift(at) picks the shifts running at one instant.';
COMMENT ON COLUMN analytics.staff_shift.ward_code IS 'The ward worked.';
COMMENT ON COLUMN analytics.staff_shift.staff_id IS 'Staff number (core.staff.staff_id).';
COMMENT ON COLUMN analytics.staff_shift.staff_category IS 'doctor or nurse (the ward rota).';
COMMENT ON COLUMN analytics.staff_shift.job_title IS 'Post title, for example Registrar or Professional Nurse.';
COMMENT ON COLUMN analytics.staff_shift.sanc_category IS 'South African Nursing Council category for nurses; NULL for doctors.';
COMMENT ON COLUMN analytics.staff_shift.grade IS 'Doctor''s grade, intern ... chief_specialist; NULL for nurses.';
COMMENT ON COLUMN analytics.staff_shift.speciality_code IS 'Doctor''s HPCSA speciality (reference.speciality); NULL for nurses, interns and community-service doctors.';
COMMENT ON COLUMN analytics.staff_shift.shift_kind IS 'Nurses: day 07:00-19:00 or night 19:00-07:00 SAST. Doctors: day 08:00-16:00 on weekdays, or call (16:00-08:00 after a weekday, 08:00-08:00 on weekends and public holidays).';
COMMENT ON COLUMN analytics.staff_shift.shift_start IS 'Start of the shift (inclusive).';
COMMENT ON COLUMN analytics.staff_shift.shift_end IS 'End of the shift (exclusive): 12 hours after shift_start for nurses; 8, 16 or 24 for doctors.';
COMMENT ON COLUMN analytics.staff_shift.covers_for_staff_id IS 'On a replacement''s shift: the retired staff member whose rota slot it is; NULL otherwise.';

-- Invoker's rights are enough: the view it reads runs with its owner's.
CREATE OR REPLACE FUNCTION analytics.staff_on_shift(at timestamptz)
RETURNS SETOF analytics.staff_shift
LANGUAGE sql STABLE
AS $$
    SELECT * FROM analytics.staff_shift s
    WHERE s.shift_start <= at AND at < s.shift_end
    ORDER BY s.ward_code, s.staff_category, s.staff_id
$$;
COMMENT ON FUNCTION analytics.staff_on_shift(timestamptz) IS 'Who is on shift at instant `at`, per ward: analytics.staff_shift rows whose shift contains it.';

-- The chapter titles are WHO's (ICD-10 2019); reference.icd10_code keeps only the numeral.
CREATE OR REPLACE VIEW analytics.admissions_by_icd10_chapter AS
WITH chapter (chapter, chapter_number, chapter_title) AS (
    VALUES ('I', 1, 'Certain infectious and parasitic diseases'), ('II', 2, 'Neoplasms'),
           ('III', 3, 'Diseases of the blood and immune mechanism'),
           ('IV', 4, 'Endocrine, nutritional and metabolic diseases'),
           ('V', 5, 'Mental and behavioural disorders'), ('VI', 6, 'Diseases of the nervous system'),
           ('VII', 7, 'Diseases of the eye and adnexa'), ('VIII', 8, 'Diseases of the ear and mastoid process'),
           ('IX', 9, 'Diseases of the circulatory system'), ('X', 10, 'Diseases of the respiratory system'),
           ('XI', 11, 'Diseases of the digestive system'), ('XII', 12, 'Diseases of the skin and subcutaneous tissue'),
           ('XIII', 13, 'Diseases of the musculoskeletal system and connective tissue'),
           ('XIV', 14, 'Diseases of the genitourinary system'),
           ('XV', 15, 'Pregnancy, childbirth and the puerperium'),
           ('XVI', 16, 'Certain conditions originating in the perinatal period'),
           ('XVII', 17, 'Congenital malformations and chromosomal abnormalities'),
           ('XVIII', 18, 'Symptoms, signs and abnormal findings, not elsewhere classified'),
           ('XIX', 19, 'Injury, poisoning and other consequences of external causes'),
           ('XX', 20, 'External causes of morbidity and mortality'),
           ('XXI', 21, 'Factors influencing health status and contact with health services'),
           ('XXII', 22, 'Codes for special purposes')
)
SELECT a.record_date AS admission_date,
       c.chapter,
       ch.chapter_number,
       ch.chapter_title,
       count(DISTINCT a.admission_id)::integer AS admissions
FROM clinical.admission a
JOIN clinical.diagnosis d ON d.admission_id = a.admission_id AND d.diagnosis_role = 'primary'
JOIN reference.icd10_code c ON c.icd10_code = d.icd10_code
LEFT JOIN chapter ch ON ch.chapter = c.chapter
GROUP BY a.record_date, c.chapter, ch.chapter_number, ch.chapter_title;
COMMENT ON VIEW analytics.admissions_by_icd10_chapter IS 'Admissions per SAST day by the ICD-10 chapter of their primary diagnosis (admissions whose diagnosis file has not loaded yet are not counted).';
COMMENT ON COLUMN analytics.admissions_by_icd10_chapter.admission_date IS 'SAST day of admission (clinical.admission.record_date).';
COMMENT ON COLUMN analytics.admissions_by_icd10_chapter.chapter IS 'ICD-10 chapter in Roman numerals, for example XV.';
COMMENT ON COLUMN analytics.admissions_by_icd10_chapter.chapter_number IS 'The chapter as a number, 1-22, for sorting.';
COMMENT ON COLUMN analytics.admissions_by_icd10_chapter.chapter_title IS 'WHO title of the chapter, for example Pregnancy, childbirth and the puerperium.';
COMMENT ON COLUMN analytics.admissions_by_icd10_chapter.admissions IS 'Admissions that day whose primary diagnosis is in the chapter.';

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------
GRANT USAGE ON SCHEMA reference, core, stream, clinical, ops TO hospital_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA reference, core, stream, clinical, ops TO hospital_ingest;
-- Emptying the warehouse (`hospital run --fresh`) is an operator's action, done through
-- DATABASE_ADMIN_URL: the pipeline truncates nothing. (Revoked from warehouses made before.)
REVOKE TRUNCATE ON ALL TABLES IN SCHEMA reference, core, stream, clinical, ops FROM hospital_ingest;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA reference, core, stream, clinical, ops TO hospital_ingest;
-- The audit trail. Rejected rows, quarantined events and offset incidents: add and read,
-- never change. The ledger: add a claim and complete it (database/ledger.py sets only these
-- columns); what a file is (hash, name, size, who claimed it when) is never changed, and a
-- finished row not at all (tg_file_ledger_finished_is_final). Dropped partitions: read only.
REVOKE UPDATE, DELETE ON ops.rejected_row, ops.quarantined_event, ops.offset_incident FROM hospital_ingest;
REVOKE UPDATE, DELETE ON ops.file_ledger FROM hospital_ingest;
GRANT UPDATE (file_kind, status, finished_at, rows_read, rows_loaded, rows_rejected, error, record_ids)
    ON ops.file_ledger TO hospital_ingest;
REVOKE INSERT, UPDATE, DELETE ON ops.partition_drop FROM hospital_ingest;
-- The ADT outbox: written by the storing transactions' triggers, read by the relay; never rewritten.
REVOKE UPDATE, DELETE ON ops.adt_outbox FROM hospital_ingest;
-- Partitions: the pipeline creates them; only an operator drops them (hospital prune).
GRANT EXECUTE ON FUNCTION ops.ensure_day_partitions(date, date) TO hospital_ingest;
REVOKE EXECUTE ON FUNCTION ops.drop_day_partitions_before(date) FROM hospital_ingest;
-- Bulk loads of empty population tables (load_population.py): the two functions, and only
-- reading the record of what they dropped; what the rebuild runs comes from the catalog alone.
GRANT EXECUTE ON FUNCTION ops.begin_population_load(regclass), ops.finish_population_load(regclass) TO hospital_ingest;
REVOKE INSERT, UPDATE, DELETE ON ops.population_load FROM hospital_ingest;
-- The pseudonym key: nobody but the owner (no USAGE on the schema, no grant on the table).
REVOKE ALL ON SCHEMA private FROM PUBLIC, hospital_ingest, hospital_analyst;
REVOKE ALL ON ALL TABLES IN SCHEMA private FROM PUBLIC, hospital_ingest, hospital_analyst;

GRANT USAGE ON SCHEMA reference, analytics TO hospital_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA reference, analytics TO hospital_analyst;
