//! The portal's languages: English plus okID's other four (Dutch, Spanish, German, French).
//!
//! Every page string is a field of [`Strings`], so a language that forgets one does not
//! compile. The strings the browser script needs (status lines, result texts and what to
//! fix for each rejection reason) travel to it as JSON from [`client_messages_json`].

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Nl,
    Es,
    De,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Nl, Lang::Es, Lang::De, Lang::Fr];

    /// The BCP 47 primary tag, as used in `<html lang>` and `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
            Lang::Es => "es",
            Lang::De => "de",
            Lang::Fr => "fr",
        }
    }

    /// A language tag (`nl`, `nl-BE`, `DE_de`) to one of ours, by its primary subtag.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::Nl => &NL,
            Lang::Es => &ES,
            Lang::De => &DE,
            Lang::Fr => &FR,
        }
    }

    /// What to fix, per reason code; see [`REASON_CODES`].
    pub fn reasons(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::En => REASONS_EN,
            Lang::Nl => REASONS_NL,
            Lang::Es => REASONS_ES,
            Lang::De => REASONS_DE,
            Lang::Fr => REASONS_FR,
        }
    }
}

/// Choose the language: an explicit `?lang=` we support wins, then the best
/// `Accept-Language` entry we support (by q-value, ties in header order), then English.
pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = query.and_then(Lang::from_tag) {
        return lang;
    }
    let Some(header) = accept_language else {
        return Lang::En;
    };
    let mut best: Option<(f32, Lang)> = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim();
        // No q means 1; a q that is not a number in (0, 1] rules the entry out.
        let q = match parts.find_map(|p| p.trim().strip_prefix("q=")) {
            None => 1.0,
            Some(v) => match v.trim().parse::<f32>() {
                Ok(q) if q > 0.0 && q <= 1.0 => q,
                _ => continue,
            },
        };
        if let Some(lang) = Lang::from_tag(tag)
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

/// Every rejection reason the steps can answer, plus `GENERIC` for anything else.
pub const REASON_CODES: [&str; 20] = [
    "IMAGE_TOO_SMALL",
    "IMAGE_BLURRY",
    "IMAGE_TOO_DARK",
    "IMAGE_TOO_BRIGHT",
    "IMAGE_GLARE",
    "DOCUMENT_NOT_FOUND",
    "FACE_NOT_FOUND",
    "MULTIPLE_FACES",
    "FACE_TOO_SMALL",
    "LIVENESS_FAILED",
    "LIVENESS_NO_FACE_IN_FRAME",
    "LIVENESS_STATIC_FRAMES",
    "LIVENESS_WRONG_MOVEMENT",
    "LIVENESS_TOO_FEW_FRAMES",
    "UNSUPPORTED_FORMAT",
    "IMAGE_TOO_LARGE",
    "IMAGE_CORRUPT",
    "FIELD_REQUIRED",
    "FIELD_INVALID",
    "GENERIC",
];

/// The message for a reason code, falling back to the generic one.
pub fn reason_message(lang: Lang, code: &str) -> &'static str {
    let table = lang.reasons();
    table
        .iter()
        .find(|(c, _)| *c == code)
        .or_else(|| table.iter().find(|(c, _)| *c == "GENERIC"))
        .map_or("", |(_, m)| m)
}

/// What the browser script needs: `{"lang", "reasons": {CODE: message}, "ui": {...}}`.
pub fn client_messages_json(lang: Lang) -> String {
    let reasons: serde_json::Map<String, serde_json::Value> = lang
        .reasons()
        .iter()
        .map(|(c, m)| ((*c).to_owned(), serde_json::Value::from(*m)))
        .collect();
    serde_json::json!({
        "lang": lang.code(),
        "reasons": reasons,
        "ui": lang.strings().ui,
    })
    .to_string()
}

/// Page strings, rendered by the server.
#[derive(Debug)]
pub struct Strings {
    pub page_title: &'static str,
    pub progress_label: &'static str,
    pub step_terms: &'static str,
    pub step_document: &'static str,
    pub step_liveness: &'static str,
    pub step_form: &'static str,
    pub step_done: &'static str,
    pub loading: &'static str,
    pub noscript: &'static str,
    pub terms_title: &'static str,
    pub terms_body: &'static str,
    pub terms_accept: &'static str,
    pub continue_label: &'static str,
    pub doc_type_title: &'static str,
    pub doc_passport: &'static str,
    pub doc_id_card: &'static str,
    pub doc_driving_licence: &'static str,
    pub front_title: &'static str,
    pub front_hint: &'static str,
    pub back_title: &'static str,
    pub back_hint: &'static str,
    pub camera_open: &'static str,
    pub camera_take: &'static str,
    pub file_label: &'static str,
    pub retake: &'static str,
    pub use_photo: &'static str,
    pub preview_alt: &'static str,
    pub liveness_title: &'static str,
    pub liveness_hint: &'static str,
    pub liveness_start: &'static str,
    pub liveness_files_label: &'static str,
    pub form_title: &'static str,
    pub form_hint: &'static str,
    pub form_submit: &'static str,
    pub country_choose: &'static str,
    pub field_first_name: &'static str,
    pub field_last_name: &'static str,
    pub field_date_of_birth: &'static str,
    pub field_nationality: &'static str,
    pub field_email: &'static str,
    pub field_phone: &'static str,
    pub field_address_line: &'static str,
    pub field_postal_code: &'static str,
    pub field_city: &'static str,
    pub field_country: &'static str,
    pub result_title: &'static str,
    pub handoff_title: &'static str,
    pub handoff_body: &'static str,
    pub handoff_qr_alt: &'static str,
    pub handoff_here: &'static str,
    pub close: &'static str,
    pub retry: &'static str,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub completed_title: &'static str,
    pub completed_body: &'static str,
    pub ui: Ui,
}

impl Strings {
    /// The label of a form field, or `None` for a field this version does not know.
    pub fn field_label(&self, name: &str) -> Option<&'static str> {
        Some(match name {
            "first_name" => self.field_first_name,
            "last_name" => self.field_last_name,
            "date_of_birth" => self.field_date_of_birth,
            "nationality" => self.field_nationality,
            "email" => self.field_email,
            "phone" => self.field_phone,
            "address_line" => self.field_address_line,
            "postal_code" => self.field_postal_code,
            "city" => self.field_city,
            "country" => self.field_country,
            _ => return None,
        })
    }

    pub fn document_label(&self, document_type: &str) -> Option<&'static str> {
        Some(match document_type {
            "passport" => self.doc_passport,
            "id_card" => self.doc_id_card,
            "driving_licence" => self.doc_driving_licence,
            _ => return None,
        })
    }
}

/// Strings the browser script shows; `{n}` and `{step}` are filled in there.
#[derive(Debug, Serialize)]
pub struct Ui {
    pub sending: &'static str,
    pub attempts_left: &'static str,
    pub camera_unavailable: &'static str,
    pub network_error: &'static str,
    pub photo_check: &'static str,
    pub liveness_closer: &'static str,
    pub liveness_farther: &'static str,
    pub liveness_recording: &'static str,
    pub liveness_files_count: &'static str,
    pub verified_title: &'static str,
    pub verified_body: &'static str,
    pub review_title: &'static str,
    pub review_body: &'static str,
    pub rejected_title: &'static str,
    pub rejected_body: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub not_found_title: &'static str,
    pub redirect_in: &'static str,
    pub handoff_waiting: &'static str,
    pub handoff_at: &'static str,
}

static EN: Strings = Strings {
    page_title: "Verify your identity",
    progress_label: "Progress",
    step_terms: "Terms",
    step_document: "Document",
    step_liveness: "Selfie",
    step_form: "Details",
    step_done: "Done",
    loading: "Loading…",
    noscript: "This page needs JavaScript to take and send photos. Please enable it and reload the page.",
    terms_title: "Before you start",
    terms_body: "We will ask you for photos of an identity document and a short selfie, to confirm that you are who you say you are. They are used only for this verification.",
    terms_accept: "I agree that my document and selfie are processed for this verification.",
    continue_label: "Continue",
    doc_type_title: "Choose your document",
    doc_passport: "Passport",
    doc_id_card: "Identity card",
    doc_driving_licence: "Driving licence",
    front_title: "Front of your document",
    front_hint: "Lay the document on a plain, dark surface in good light. All four corners must be visible, without glare.",
    back_title: "Back of your document",
    back_hint: "Now turn the document over and take a photo of the back.",
    camera_open: "Use the camera",
    camera_take: "Take photo",
    file_label: "Or take or choose a photo",
    retake: "Take another photo",
    use_photo: "Use this photo",
    preview_alt: "Preview of your photo",
    liveness_title: "Take a selfie",
    liveness_hint: "Hold your phone in front of your face and keep your whole face in the frame. When you press Start, a few pictures are taken over two seconds while you follow the instruction.",
    liveness_start: "Start",
    liveness_files_label: "No camera? Choose 2 to 8 selfies taken while moving, first to last",
    form_title: "Your details",
    form_hint: "Fields marked * are required.",
    form_submit: "Send",
    country_choose: "Choose…",
    field_first_name: "First name",
    field_last_name: "Last name",
    field_date_of_birth: "Date of birth",
    field_nationality: "Nationality",
    field_email: "Email address",
    field_phone: "Phone number",
    field_address_line: "Address",
    field_postal_code: "Postal code",
    field_city: "City",
    field_country: "Country",
    result_title: "Result",
    handoff_title: "Continue on your phone",
    handoff_body: "Scan this code with your phone's camera to take the photos there. This page follows along and shows the result.",
    handoff_qr_alt: "QR code with the link to this verification",
    handoff_here: "Continue on this device instead",
    close: "Close",
    retry: "Start again",
    not_found_title: "This link is not valid",
    not_found_body: "Check that you opened the complete link you were given, or ask the service that sent you for a new one.",
    expired_title: "This link has expired",
    expired_body: "Verification links are valid for a limited time. Ask the service that sent you for a new link.",
    completed_title: "This verification is already complete",
    completed_body: "There is nothing more to do here. You can close this page.",
    ui: Ui {
        sending: "Sending…",
        attempts_left: "Attempts left: {n}",
        camera_unavailable: "The camera is not available. Take or choose a photo instead.",
        network_error: "We could not reach the server. Check your connection and try again.",
        photo_check: "Check that the photo is sharp and the whole document is visible.",
        liveness_closer: "Slowly bring your face closer to the camera",
        liveness_farther: "Slowly move your face away from the camera",
        liveness_recording: "Keep moving…",
        liveness_files_count: "Choose between 2 and 8 photos.",
        verified_title: "You are verified",
        verified_body: "Thank you. Your identity has been confirmed.",
        review_title: "Thank you, we are checking",
        review_body: "Your verification has been received and is being reviewed. The service that sent you will let you know.",
        rejected_title: "Verification failed",
        rejected_body: "We could not verify your identity. Ask the service that sent you for a new verification link.",
        expired_title: "This link has expired",
        expired_body: "Ask the service that sent you for a new link.",
        not_found_title: "This link is not valid",
        redirect_in: "Taking you back in {n}…",
        handoff_waiting: "Waiting for your phone…",
        handoff_at: "On your phone: {step}",
    },
};

static NL: Strings = Strings {
    page_title: "Bevestig je identiteit",
    progress_label: "Voortgang",
    step_terms: "Voorwaarden",
    step_document: "Document",
    step_liveness: "Selfie",
    step_form: "Gegevens",
    step_done: "Klaar",
    loading: "Laden…",
    noscript: "Deze pagina heeft JavaScript nodig om foto's te maken en te versturen. Zet het aan en laad de pagina opnieuw.",
    terms_title: "Voordat je begint",
    terms_body: "We vragen je om foto's van een identiteitsbewijs en een korte selfie, om te bevestigen dat je bent wie je zegt dat je bent. Ze worden alleen voor deze verificatie gebruikt.",
    terms_accept: "Ik ga ermee akkoord dat mijn document en selfie voor deze verificatie worden verwerkt.",
    continue_label: "Doorgaan",
    doc_type_title: "Kies je document",
    doc_passport: "Paspoort",
    doc_id_card: "Identiteitskaart",
    doc_driving_licence: "Rijbewijs",
    front_title: "Voorkant van je document",
    front_hint: "Leg het document op een effen, donkere ondergrond in goed licht. Alle vier de hoeken moeten zichtbaar zijn, zonder schittering.",
    back_title: "Achterkant van je document",
    back_hint: "Draai het document nu om en maak een foto van de achterkant.",
    camera_open: "Camera gebruiken",
    camera_take: "Foto maken",
    file_label: "Of maak of kies een foto",
    retake: "Nieuwe foto maken",
    use_photo: "Deze foto gebruiken",
    preview_alt: "Voorbeeld van je foto",
    liveness_title: "Maak een selfie",
    liveness_hint: "Houd je telefoon voor je gezicht en houd je hele gezicht in beeld. Als je op Start drukt, worden in twee seconden een paar foto's gemaakt terwijl je de instructie volgt.",
    liveness_start: "Start",
    liveness_files_label: "Geen camera? Kies 2 tot 8 selfies, gemaakt tijdens het bewegen, van eerste tot laatste",
    form_title: "Je gegevens",
    form_hint: "Velden met * zijn verplicht.",
    form_submit: "Versturen",
    country_choose: "Kies…",
    field_first_name: "Voornaam",
    field_last_name: "Achternaam",
    field_date_of_birth: "Geboortedatum",
    field_nationality: "Nationaliteit",
    field_email: "E-mailadres",
    field_phone: "Telefoonnummer",
    field_address_line: "Adres",
    field_postal_code: "Postcode",
    field_city: "Plaats",
    field_country: "Land",
    result_title: "Resultaat",
    handoff_title: "Ga verder op je telefoon",
    handoff_body: "Scan deze code met de camera van je telefoon om daar de foto's te maken. Deze pagina volgt mee en toont het resultaat.",
    handoff_qr_alt: "QR-code met de link naar deze verificatie",
    handoff_here: "Toch op dit apparaat verdergaan",
    close: "Sluiten",
    retry: "Opnieuw beginnen",
    not_found_title: "Deze link is niet geldig",
    not_found_body: "Controleer of je de volledige link hebt geopend, of vraag de dienst die je hierheen stuurde om een nieuwe.",
    expired_title: "Deze link is verlopen",
    expired_body: "Verificatielinks zijn beperkt geldig. Vraag de dienst die je hierheen stuurde om een nieuwe link.",
    completed_title: "Deze verificatie is al afgerond",
    completed_body: "Je hoeft hier niets meer te doen. Je kunt deze pagina sluiten.",
    ui: Ui {
        sending: "Versturen…",
        attempts_left: "Pogingen over: {n}",
        camera_unavailable: "De camera is niet beschikbaar. Maak of kies in plaats daarvan een foto.",
        network_error: "We konden de server niet bereiken. Controleer je verbinding en probeer het opnieuw.",
        photo_check: "Controleer of de foto scherp is en het hele document zichtbaar is.",
        liveness_closer: "Breng je gezicht langzaam dichter bij de camera",
        liveness_farther: "Beweeg je gezicht langzaam van de camera af",
        liveness_recording: "Blijf bewegen…",
        liveness_files_count: "Kies tussen 2 en 8 foto's.",
        verified_title: "Je bent geverifieerd",
        verified_body: "Bedankt. Je identiteit is bevestigd.",
        review_title: "Bedankt, we controleren het",
        review_body: "Je verificatie is ontvangen en wordt beoordeeld. De dienst die je hierheen stuurde laat het je weten.",
        rejected_title: "Verificatie mislukt",
        rejected_body: "We konden je identiteit niet bevestigen. Vraag de dienst die je hierheen stuurde om een nieuwe verificatielink.",
        expired_title: "Deze link is verlopen",
        expired_body: "Vraag de dienst die je hierheen stuurde om een nieuwe link.",
        not_found_title: "Deze link is niet geldig",
        redirect_in: "Je gaat terug over {n}…",
        handoff_waiting: "Wachten op je telefoon…",
        handoff_at: "Op je telefoon: {step}",
    },
};

static ES: Strings = Strings {
    page_title: "Verifica tu identidad",
    progress_label: "Progreso",
    step_terms: "Condiciones",
    step_document: "Documento",
    step_liveness: "Selfi",
    step_form: "Datos",
    step_done: "Listo",
    loading: "Cargando…",
    noscript: "Esta página necesita JavaScript para hacer y enviar fotos. Actívalo y vuelve a cargar la página.",
    terms_title: "Antes de empezar",
    terms_body: "Te pediremos fotos de un documento de identidad y un breve selfi para confirmar que eres quien dices ser. Solo se usan para esta verificación.",
    terms_accept: "Acepto que mi documento y mi selfi se procesen para esta verificación.",
    continue_label: "Continuar",
    doc_type_title: "Elige tu documento",
    doc_passport: "Pasaporte",
    doc_id_card: "Documento de identidad",
    doc_driving_licence: "Permiso de conducir",
    front_title: "Parte delantera del documento",
    front_hint: "Coloca el documento sobre una superficie lisa y oscura con buena luz. Las cuatro esquinas deben verse, sin reflejos.",
    back_title: "Parte trasera del documento",
    back_hint: "Ahora da la vuelta al documento y haz una foto de la parte trasera.",
    camera_open: "Usar la cámara",
    camera_take: "Hacer foto",
    file_label: "O haz o elige una foto",
    retake: "Hacer otra foto",
    use_photo: "Usar esta foto",
    preview_alt: "Vista previa de tu foto",
    liveness_title: "Hazte un selfi",
    liveness_hint: "Sostén el teléfono frente a tu cara y mantén toda la cara en el encuadre. Al pulsar Empezar se harán varias fotos durante dos segundos mientras sigues la instrucción.",
    liveness_start: "Empezar",
    liveness_files_label: "¿Sin cámara? Elige de 2 a 8 selfis hechos mientras te mueves, del primero al último",
    form_title: "Tus datos",
    form_hint: "Los campos marcados con * son obligatorios.",
    form_submit: "Enviar",
    country_choose: "Elige…",
    field_first_name: "Nombre",
    field_last_name: "Apellidos",
    field_date_of_birth: "Fecha de nacimiento",
    field_nationality: "Nacionalidad",
    field_email: "Correo electrónico",
    field_phone: "Número de teléfono",
    field_address_line: "Dirección",
    field_postal_code: "Código postal",
    field_city: "Ciudad",
    field_country: "País",
    result_title: "Resultado",
    handoff_title: "Continúa en tu teléfono",
    handoff_body: "Escanea este código con la cámara del teléfono para hacer allí las fotos. Esta página sigue el proceso y muestra el resultado.",
    handoff_qr_alt: "Código QR con el enlace a esta verificación",
    handoff_here: "Continuar en este dispositivo",
    close: "Cerrar",
    retry: "Empezar de nuevo",
    not_found_title: "Este enlace no es válido",
    not_found_body: "Comprueba que has abierto el enlace completo o pide uno nuevo al servicio que te envió aquí.",
    expired_title: "Este enlace ha caducado",
    expired_body: "Los enlaces de verificación son válidos por tiempo limitado. Pide uno nuevo al servicio que te envió aquí.",
    completed_title: "Esta verificación ya está completa",
    completed_body: "No tienes que hacer nada más. Puedes cerrar esta página.",
    ui: Ui {
        sending: "Enviando…",
        attempts_left: "Intentos restantes: {n}",
        camera_unavailable: "La cámara no está disponible. Haz o elige una foto en su lugar.",
        network_error: "No pudimos conectar con el servidor. Comprueba tu conexión e inténtalo de nuevo.",
        photo_check: "Comprueba que la foto es nítida y que se ve todo el documento.",
        liveness_closer: "Acerca la cara a la cámara poco a poco",
        liveness_farther: "Aleja la cara de la cámara poco a poco",
        liveness_recording: "Sigue moviéndote…",
        liveness_files_count: "Elige entre 2 y 8 fotos.",
        verified_title: "Identidad verificada",
        verified_body: "Gracias. Tu identidad ha sido confirmada.",
        review_title: "Gracias, lo estamos revisando",
        review_body: "Hemos recibido tu verificación y se está revisando. El servicio que te envió aquí te informará.",
        rejected_title: "La verificación ha fallado",
        rejected_body: "No pudimos verificar tu identidad. Pide un nuevo enlace de verificación al servicio que te envió aquí.",
        expired_title: "Este enlace ha caducado",
        expired_body: "Pide un enlace nuevo al servicio que te envió aquí.",
        not_found_title: "Este enlace no es válido",
        redirect_in: "Volverás en {n}…",
        handoff_waiting: "Esperando a tu teléfono…",
        handoff_at: "En tu teléfono: {step}",
    },
};

static DE: Strings = Strings {
    page_title: "Bestätige deine Identität",
    progress_label: "Fortschritt",
    step_terms: "Bedingungen",
    step_document: "Ausweis",
    step_liveness: "Selfie",
    step_form: "Angaben",
    step_done: "Fertig",
    loading: "Wird geladen…",
    noscript: "Diese Seite braucht JavaScript, um Fotos aufzunehmen und zu senden. Bitte aktiviere es und lade die Seite neu.",
    terms_title: "Bevor du beginnst",
    terms_body: "Wir bitten dich um Fotos eines Ausweisdokuments und ein kurzes Selfie, um zu bestätigen, dass du die Person bist, die du angibst. Sie werden nur für diese Prüfung verwendet.",
    terms_accept: "Ich bin einverstanden, dass mein Ausweis und mein Selfie für diese Prüfung verarbeitet werden.",
    continue_label: "Weiter",
    doc_type_title: "Wähle dein Dokument",
    doc_passport: "Reisepass",
    doc_id_card: "Personalausweis",
    doc_driving_licence: "Führerschein",
    front_title: "Vorderseite deines Dokuments",
    front_hint: "Lege das Dokument bei gutem Licht auf eine glatte, dunkle Fläche. Alle vier Ecken müssen sichtbar sein, ohne Spiegelungen.",
    back_title: "Rückseite deines Dokuments",
    back_hint: "Drehe das Dokument jetzt um und fotografiere die Rückseite.",
    camera_open: "Kamera verwenden",
    camera_take: "Foto aufnehmen",
    file_label: "Oder ein Foto aufnehmen oder auswählen",
    retake: "Neues Foto aufnehmen",
    use_photo: "Dieses Foto verwenden",
    preview_alt: "Vorschau deines Fotos",
    liveness_title: "Mach ein Selfie",
    liveness_hint: "Halte dein Telefon vor dein Gesicht und behalte das ganze Gesicht im Bild. Wenn du auf Start drückst, werden in zwei Sekunden einige Bilder aufgenommen, während du der Anweisung folgst.",
    liveness_start: "Start",
    liveness_files_label: "Keine Kamera? Wähle 2 bis 8 Selfies, in Bewegung aufgenommen, vom ersten bis zum letzten",
    form_title: "Deine Angaben",
    form_hint: "Mit * markierte Felder sind Pflichtfelder.",
    form_submit: "Senden",
    country_choose: "Auswählen…",
    field_first_name: "Vorname",
    field_last_name: "Nachname",
    field_date_of_birth: "Geburtsdatum",
    field_nationality: "Staatsangehörigkeit",
    field_email: "E-Mail-Adresse",
    field_phone: "Telefonnummer",
    field_address_line: "Adresse",
    field_postal_code: "Postleitzahl",
    field_city: "Ort",
    field_country: "Land",
    result_title: "Ergebnis",
    handoff_title: "Auf dem Telefon fortfahren",
    handoff_body: "Scanne diesen Code mit der Kamera deines Telefons, um die Fotos dort aufzunehmen. Diese Seite verfolgt den Fortschritt und zeigt das Ergebnis.",
    handoff_qr_alt: "QR-Code mit dem Link zu dieser Prüfung",
    handoff_here: "Doch auf diesem Gerät fortfahren",
    close: "Schließen",
    retry: "Neu beginnen",
    not_found_title: "Dieser Link ist ungültig",
    not_found_body: "Prüfe, ob du den vollständigen Link geöffnet hast, oder bitte den Dienst, der dich hierher geschickt hat, um einen neuen.",
    expired_title: "Dieser Link ist abgelaufen",
    expired_body: "Prüfungslinks sind nur begrenzt gültig. Bitte den Dienst, der dich hierher geschickt hat, um einen neuen Link.",
    completed_title: "Diese Prüfung ist bereits abgeschlossen",
    completed_body: "Hier ist nichts mehr zu tun. Du kannst diese Seite schließen.",
    ui: Ui {
        sending: "Wird gesendet…",
        attempts_left: "Verbleibende Versuche: {n}",
        camera_unavailable: "Die Kamera ist nicht verfügbar. Nimm stattdessen ein Foto auf oder wähle eines aus.",
        network_error: "Der Server ist nicht erreichbar. Prüfe deine Verbindung und versuche es erneut.",
        photo_check: "Prüfe, ob das Foto scharf ist und das ganze Dokument zeigt.",
        liveness_closer: "Bring dein Gesicht langsam näher an die Kamera",
        liveness_farther: "Bewege dein Gesicht langsam von der Kamera weg",
        liveness_recording: "Weiter bewegen…",
        liveness_files_count: "Wähle zwischen 2 und 8 Fotos.",
        verified_title: "Du bist verifiziert",
        verified_body: "Danke. Deine Identität wurde bestätigt.",
        review_title: "Danke, wir prüfen das",
        review_body: "Deine Prüfung ist eingegangen und wird kontrolliert. Der Dienst, der dich hierher geschickt hat, informiert dich.",
        rejected_title: "Prüfung fehlgeschlagen",
        rejected_body: "Wir konnten deine Identität nicht bestätigen. Bitte den Dienst, der dich hierher geschickt hat, um einen neuen Link.",
        expired_title: "Dieser Link ist abgelaufen",
        expired_body: "Bitte den Dienst, der dich hierher geschickt hat, um einen neuen Link.",
        not_found_title: "Dieser Link ist ungültig",
        redirect_in: "Du wirst in {n} zurückgeleitet…",
        handoff_waiting: "Warte auf dein Telefon…",
        handoff_at: "Auf deinem Telefon: {step}",
    },
};

static FR: Strings = Strings {
    page_title: "Vérifiez votre identité",
    progress_label: "Progression",
    step_terms: "Conditions",
    step_document: "Document",
    step_liveness: "Selfie",
    step_form: "Informations",
    step_done: "Terminé",
    loading: "Chargement…",
    noscript: "Cette page a besoin de JavaScript pour prendre et envoyer des photos. Activez-le et rechargez la page.",
    terms_title: "Avant de commencer",
    terms_body: "Nous allons vous demander des photos d'une pièce d'identité et un court selfie, pour confirmer que vous êtes bien la personne que vous dites être. Elles ne servent qu'à cette vérification.",
    terms_accept: "J'accepte que mon document et mon selfie soient traités pour cette vérification.",
    continue_label: "Continuer",
    doc_type_title: "Choisissez votre document",
    doc_passport: "Passeport",
    doc_id_card: "Carte d'identité",
    doc_driving_licence: "Permis de conduire",
    front_title: "Recto de votre document",
    front_hint: "Posez le document sur une surface unie et sombre, bien éclairée. Les quatre coins doivent être visibles, sans reflet.",
    back_title: "Verso de votre document",
    back_hint: "Retournez maintenant le document et photographiez le verso.",
    camera_open: "Utiliser l'appareil photo",
    camera_take: "Prendre la photo",
    file_label: "Ou prenez ou choisissez une photo",
    retake: "Reprendre une photo",
    use_photo: "Utiliser cette photo",
    preview_alt: "Aperçu de votre photo",
    liveness_title: "Prenez un selfie",
    liveness_hint: "Tenez votre téléphone devant votre visage et gardez tout le visage dans le cadre. Quand vous appuyez sur Démarrer, quelques images sont prises pendant deux secondes pendant que vous suivez la consigne.",
    liveness_start: "Démarrer",
    liveness_files_label: "Pas d'appareil photo ? Choisissez de 2 à 8 selfies pris en bougeant, du premier au dernier",
    form_title: "Vos informations",
    form_hint: "Les champs marqués * sont obligatoires.",
    form_submit: "Envoyer",
    country_choose: "Choisir…",
    field_first_name: "Prénom",
    field_last_name: "Nom",
    field_date_of_birth: "Date de naissance",
    field_nationality: "Nationalité",
    field_email: "Adresse e-mail",
    field_phone: "Numéro de téléphone",
    field_address_line: "Adresse",
    field_postal_code: "Code postal",
    field_city: "Ville",
    field_country: "Pays",
    result_title: "Résultat",
    handoff_title: "Continuez sur votre téléphone",
    handoff_body: "Scannez ce code avec l'appareil photo de votre téléphone pour y prendre les photos. Cette page suit la progression et affiche le résultat.",
    handoff_qr_alt: "Code QR avec le lien vers cette vérification",
    handoff_here: "Continuer plutôt sur cet appareil",
    close: "Fermer",
    retry: "Recommencer",
    not_found_title: "Ce lien n'est pas valide",
    not_found_body: "Vérifiez que vous avez ouvert le lien complet, ou demandez-en un nouveau au service qui vous a envoyé ici.",
    expired_title: "Ce lien a expiré",
    expired_body: "Les liens de vérification sont valables pour une durée limitée. Demandez un nouveau lien au service qui vous a envoyé ici.",
    completed_title: "Cette vérification est déjà terminée",
    completed_body: "Il n'y a plus rien à faire ici. Vous pouvez fermer cette page.",
    ui: Ui {
        sending: "Envoi…",
        attempts_left: "Essais restants : {n}",
        camera_unavailable: "L'appareil photo n'est pas disponible. Prenez ou choisissez plutôt une photo.",
        network_error: "Impossible de joindre le serveur. Vérifiez votre connexion et réessayez.",
        photo_check: "Vérifiez que la photo est nette et que tout le document est visible.",
        liveness_closer: "Rapprochez lentement votre visage de l'appareil photo",
        liveness_farther: "Éloignez lentement votre visage de l'appareil photo",
        liveness_recording: "Continuez à bouger…",
        liveness_files_count: "Choisissez entre 2 et 8 photos.",
        verified_title: "Vous êtes vérifié",
        verified_body: "Merci. Votre identité a été confirmée.",
        review_title: "Merci, nous vérifions",
        review_body: "Votre vérification a été reçue et est en cours d'examen. Le service qui vous a envoyé ici vous informera.",
        rejected_title: "La vérification a échoué",
        rejected_body: "Nous n'avons pas pu vérifier votre identité. Demandez un nouveau lien de vérification au service qui vous a envoyé ici.",
        expired_title: "Ce lien a expiré",
        expired_body: "Demandez un nouveau lien au service qui vous a envoyé ici.",
        not_found_title: "Ce lien n'est pas valide",
        redirect_in: "Retour dans {n}…",
        handoff_waiting: "En attente de votre téléphone…",
        handoff_at: "Sur votre téléphone : {step}",
    },
};

const REASONS_EN: &[(&str, &str)] = &[
    (
        "IMAGE_TOO_SMALL",
        "The photo is too small. Come closer so that the document fills the frame.",
    ),
    (
        "IMAGE_BLURRY",
        "The photo is blurry. Hold still, let the camera focus and try again.",
    ),
    (
        "IMAGE_TOO_DARK",
        "The photo is too dark. Move to a brighter place.",
    ),
    (
        "IMAGE_TOO_BRIGHT",
        "The photo is too bright. Avoid direct sunlight or strong lamps.",
    ),
    (
        "IMAGE_GLARE",
        "There is glare on the document. Tilt it slightly or move away from the light.",
    ),
    (
        "DOCUMENT_NOT_FOUND",
        "We could not find the document. Show the whole document with all four corners, on a plain background.",
    ),
    (
        "FACE_NOT_FOUND",
        "We could not see a face. Make sure the face is fully visible and well lit.",
    ),
    (
        "MULTIPLE_FACES",
        "More than one face is visible. Make sure only you are in the picture.",
    ),
    (
        "FACE_TOO_SMALL",
        "The face is too small. Come closer to the camera.",
    ),
    (
        "LIVENESS_FAILED",
        "We could not confirm that you were there in person. Try again in good light and follow the instruction.",
    ),
    (
        "LIVENESS_NO_FACE_IN_FRAME",
        "Your face left the picture. Keep your whole face in the frame the whole time.",
    ),
    (
        "LIVENESS_STATIC_FRAMES",
        "The pictures show no movement. Move as instructed while the pictures are taken.",
    ),
    (
        "LIVENESS_WRONG_MOVEMENT",
        "The movement did not match the instruction. Follow the instruction on the screen.",
    ),
    (
        "LIVENESS_TOO_FEW_FRAMES",
        "Too few pictures were taken. Try again and keep the camera on until it finishes.",
    ),
    (
        "UNSUPPORTED_FORMAT",
        "This file type is not supported. Use a JPEG, PNG or WebP photo.",
    ),
    (
        "IMAGE_TOO_LARGE",
        "The file is too large. Use a smaller photo.",
    ),
    (
        "IMAGE_CORRUPT",
        "The file could not be read. Take a new photo.",
    ),
    ("FIELD_REQUIRED", "Please fill in this field."),
    ("FIELD_INVALID", "Please check this value."),
    ("GENERIC", "Something went wrong. Please try again."),
];

const REASONS_NL: &[(&str, &str)] = &[
    (
        "IMAGE_TOO_SMALL",
        "De foto is te klein. Kom dichterbij zodat het document het beeld vult.",
    ),
    (
        "IMAGE_BLURRY",
        "De foto is onscherp. Houd stil, laat de camera scherpstellen en probeer het opnieuw.",
    ),
    (
        "IMAGE_TOO_DARK",
        "De foto is te donker. Ga naar een lichtere plek.",
    ),
    (
        "IMAGE_TOO_BRIGHT",
        "De foto is te licht. Vermijd direct zonlicht of felle lampen.",
    ),
    (
        "IMAGE_GLARE",
        "Er is schittering op het document. Kantel het iets of ga uit het licht.",
    ),
    (
        "DOCUMENT_NOT_FOUND",
        "We konden het document niet vinden. Laat het hele document zien met alle vier de hoeken, op een effen achtergrond.",
    ),
    (
        "FACE_NOT_FOUND",
        "We zagen geen gezicht. Zorg dat het gezicht helemaal zichtbaar en goed verlicht is.",
    ),
    (
        "MULTIPLE_FACES",
        "Er is meer dan één gezicht te zien. Zorg dat alleen jij in beeld bent.",
    ),
    (
        "FACE_TOO_SMALL",
        "Het gezicht is te klein. Kom dichter bij de camera.",
    ),
    (
        "LIVENESS_FAILED",
        "We konden niet bevestigen dat je er zelf was. Probeer het opnieuw in goed licht en volg de instructie.",
    ),
    (
        "LIVENESS_NO_FACE_IN_FRAME",
        "Je gezicht ging uit beeld. Houd je hele gezicht steeds in beeld.",
    ),
    (
        "LIVENESS_STATIC_FRAMES",
        "De foto's tonen geen beweging. Beweeg zoals gevraagd terwijl de foto's worden gemaakt.",
    ),
    (
        "LIVENESS_WRONG_MOVEMENT",
        "De beweging paste niet bij de instructie. Volg de instructie op het scherm.",
    ),
    (
        "LIVENESS_TOO_FEW_FRAMES",
        "Er zijn te weinig foto's gemaakt. Probeer het opnieuw en laat de camera aan tot het klaar is.",
    ),
    (
        "UNSUPPORTED_FORMAT",
        "Dit bestandstype wordt niet ondersteund. Gebruik een JPEG-, PNG- of WebP-foto.",
    ),
    (
        "IMAGE_TOO_LARGE",
        "Het bestand is te groot. Gebruik een kleinere foto.",
    ),
    (
        "IMAGE_CORRUPT",
        "Het bestand kon niet worden gelezen. Maak een nieuwe foto.",
    ),
    ("FIELD_REQUIRED", "Vul dit veld in."),
    ("FIELD_INVALID", "Controleer deze waarde."),
    ("GENERIC", "Er ging iets mis. Probeer het opnieuw."),
];

const REASONS_ES: &[(&str, &str)] = &[
    (
        "IMAGE_TOO_SMALL",
        "La foto es demasiado pequeña. Acércate para que el documento llene el encuadre.",
    ),
    (
        "IMAGE_BLURRY",
        "La foto está borrosa. No te muevas, deja que la cámara enfoque e inténtalo de nuevo.",
    ),
    (
        "IMAGE_TOO_DARK",
        "La foto está demasiado oscura. Ve a un lugar con más luz.",
    ),
    (
        "IMAGE_TOO_BRIGHT",
        "La foto tiene demasiada luz. Evita el sol directo o las lámparas fuertes.",
    ),
    (
        "IMAGE_GLARE",
        "Hay reflejos en el documento. Inclínalo un poco o apártate de la luz.",
    ),
    (
        "DOCUMENT_NOT_FOUND",
        "No encontramos el documento. Muestra el documento entero con las cuatro esquinas, sobre un fondo liso.",
    ),
    (
        "FACE_NOT_FOUND",
        "No vimos ninguna cara. Asegúrate de que la cara se ve entera y con buena luz.",
    ),
    (
        "MULTIPLE_FACES",
        "Se ve más de una cara. Asegúrate de que solo apareces tú.",
    ),
    (
        "FACE_TOO_SMALL",
        "La cara es demasiado pequeña. Acércate a la cámara.",
    ),
    (
        "LIVENESS_FAILED",
        "No pudimos confirmar que estabas presente. Inténtalo de nuevo con buena luz y sigue la instrucción.",
    ),
    (
        "LIVENESS_NO_FACE_IN_FRAME",
        "Tu cara salió del encuadre. Mantén toda la cara en el encuadre en todo momento.",
    ),
    (
        "LIVENESS_STATIC_FRAMES",
        "Las fotos no muestran movimiento. Muévete como se indica mientras se hacen las fotos.",
    ),
    (
        "LIVENESS_WRONG_MOVEMENT",
        "El movimiento no coincidía con la instrucción. Sigue la instrucción de la pantalla.",
    ),
    (
        "LIVENESS_TOO_FEW_FRAMES",
        "Se hicieron muy pocas fotos. Inténtalo de nuevo y deja la cámara encendida hasta que termine.",
    ),
    (
        "UNSUPPORTED_FORMAT",
        "Este tipo de archivo no es compatible. Usa una foto JPEG, PNG o WebP.",
    ),
    (
        "IMAGE_TOO_LARGE",
        "El archivo es demasiado grande. Usa una foto más pequeña.",
    ),
    (
        "IMAGE_CORRUPT",
        "No se pudo leer el archivo. Haz una foto nueva.",
    ),
    ("FIELD_REQUIRED", "Rellena este campo."),
    ("FIELD_INVALID", "Revisa este valor."),
    ("GENERIC", "Algo ha fallado. Inténtalo de nuevo."),
];

const REASONS_DE: &[(&str, &str)] = &[
    (
        "IMAGE_TOO_SMALL",
        "Das Foto ist zu klein. Geh näher heran, damit das Dokument das Bild füllt.",
    ),
    (
        "IMAGE_BLURRY",
        "Das Foto ist unscharf. Halte still, lass die Kamera scharfstellen und versuche es erneut.",
    ),
    (
        "IMAGE_TOO_DARK",
        "Das Foto ist zu dunkel. Geh an einen helleren Ort.",
    ),
    (
        "IMAGE_TOO_BRIGHT",
        "Das Foto ist zu hell. Vermeide direktes Sonnenlicht oder helle Lampen.",
    ),
    (
        "IMAGE_GLARE",
        "Auf dem Dokument spiegelt sich Licht. Kippe es leicht oder geh aus dem Licht.",
    ),
    (
        "DOCUMENT_NOT_FOUND",
        "Wir konnten das Dokument nicht finden. Zeige das ganze Dokument mit allen vier Ecken auf einem einfarbigen Hintergrund.",
    ),
    (
        "FACE_NOT_FOUND",
        "Wir konnten kein Gesicht erkennen. Achte darauf, dass das Gesicht ganz sichtbar und gut beleuchtet ist.",
    ),
    (
        "MULTIPLE_FACES",
        "Mehr als ein Gesicht ist zu sehen. Achte darauf, dass nur du im Bild bist.",
    ),
    (
        "FACE_TOO_SMALL",
        "Das Gesicht ist zu klein. Geh näher an die Kamera.",
    ),
    (
        "LIVENESS_FAILED",
        "Wir konnten nicht bestätigen, dass du selbst anwesend warst. Versuche es bei gutem Licht erneut und folge der Anweisung.",
    ),
    (
        "LIVENESS_NO_FACE_IN_FRAME",
        "Dein Gesicht war nicht mehr im Bild. Behalte das ganze Gesicht die ganze Zeit im Bild.",
    ),
    (
        "LIVENESS_STATIC_FRAMES",
        "Die Bilder zeigen keine Bewegung. Bewege dich wie angegeben, während die Bilder aufgenommen werden.",
    ),
    (
        "LIVENESS_WRONG_MOVEMENT",
        "Die Bewegung passte nicht zur Anweisung. Folge der Anweisung auf dem Bildschirm.",
    ),
    (
        "LIVENESS_TOO_FEW_FRAMES",
        "Es wurden zu wenige Bilder aufgenommen. Versuche es erneut und lass die Kamera an, bis es fertig ist.",
    ),
    (
        "UNSUPPORTED_FORMAT",
        "Dieser Dateityp wird nicht unterstützt. Verwende ein JPEG-, PNG- oder WebP-Foto.",
    ),
    (
        "IMAGE_TOO_LARGE",
        "Die Datei ist zu groß. Verwende ein kleineres Foto.",
    ),
    (
        "IMAGE_CORRUPT",
        "Die Datei konnte nicht gelesen werden. Nimm ein neues Foto auf.",
    ),
    ("FIELD_REQUIRED", "Bitte fülle dieses Feld aus."),
    ("FIELD_INVALID", "Bitte prüfe diesen Wert."),
    (
        "GENERIC",
        "Etwas ist schiefgelaufen. Bitte versuche es erneut.",
    ),
];

const REASONS_FR: &[(&str, &str)] = &[
    (
        "IMAGE_TOO_SMALL",
        "La photo est trop petite. Rapprochez-vous pour que le document remplisse le cadre.",
    ),
    (
        "IMAGE_BLURRY",
        "La photo est floue. Restez immobile, laissez l'appareil faire la mise au point et réessayez.",
    ),
    (
        "IMAGE_TOO_DARK",
        "La photo est trop sombre. Placez-vous dans un endroit plus lumineux.",
    ),
    (
        "IMAGE_TOO_BRIGHT",
        "La photo est trop claire. Évitez le soleil direct ou les lampes fortes.",
    ),
    (
        "IMAGE_GLARE",
        "Il y a un reflet sur le document. Inclinez-le légèrement ou éloignez-vous de la lumière.",
    ),
    (
        "DOCUMENT_NOT_FOUND",
        "Nous n'avons pas trouvé le document. Montrez tout le document avec ses quatre coins, sur un fond uni.",
    ),
    (
        "FACE_NOT_FOUND",
        "Nous n'avons pas vu de visage. Assurez-vous que le visage est entièrement visible et bien éclairé.",
    ),
    (
        "MULTIPLE_FACES",
        "Plusieurs visages sont visibles. Assurez-vous d'être seul sur l'image.",
    ),
    (
        "FACE_TOO_SMALL",
        "Le visage est trop petit. Rapprochez-vous de l'appareil photo.",
    ),
    (
        "LIVENESS_FAILED",
        "Nous n'avons pas pu confirmer votre présence. Réessayez dans un endroit bien éclairé et suivez la consigne.",
    ),
    (
        "LIVENESS_NO_FACE_IN_FRAME",
        "Votre visage est sorti du cadre. Gardez tout votre visage dans le cadre du début à la fin.",
    ),
    (
        "LIVENESS_STATIC_FRAMES",
        "Les images ne montrent aucun mouvement. Bougez comme indiqué pendant la prise des images.",
    ),
    (
        "LIVENESS_WRONG_MOVEMENT",
        "Le mouvement ne correspondait pas à la consigne. Suivez la consigne à l'écran.",
    ),
    (
        "LIVENESS_TOO_FEW_FRAMES",
        "Trop peu d'images ont été prises. Réessayez et laissez l'appareil photo allumé jusqu'à la fin.",
    ),
    (
        "UNSUPPORTED_FORMAT",
        "Ce type de fichier n'est pas pris en charge. Utilisez une photo JPEG, PNG ou WebP.",
    ),
    (
        "IMAGE_TOO_LARGE",
        "Le fichier est trop volumineux. Utilisez une photo plus petite.",
    ),
    (
        "IMAGE_CORRUPT",
        "Le fichier n'a pas pu être lu. Prenez une nouvelle photo.",
    ),
    ("FIELD_REQUIRED", "Veuillez remplir ce champ."),
    ("FIELD_INVALID", "Veuillez vérifier cette valeur."),
    ("GENERIC", "Un problème est survenu. Veuillez réessayer."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_over_header() {
        assert_eq!(negotiate(Some("nl"), Some("de")), Lang::Nl);
        assert_eq!(negotiate(Some("FR-ca"), None), Lang::Fr);
        // An unsupported `?lang=` falls through to the header.
        assert_eq!(negotiate(Some("pt"), Some("es-ES")), Lang::Es);
        assert_eq!(negotiate(Some(""), None), Lang::En);
    }

    #[test]
    fn header_q_values_are_honoured() {
        assert_eq!(negotiate(None, Some("de-DE,de;q=0.9")), Lang::De);
        assert_eq!(
            negotiate(None, Some("fr;q=0.5, nl;q=0.8, en;q=0.7")),
            Lang::Nl
        );
        // Unsupported languages are skipped, even when preferred.
        assert_eq!(negotiate(None, Some("pt-BR, es;q=0.4, *;q=0.1")), Lang::Es);
        // Ties go to the first listed.
        assert_eq!(negotiate(None, Some("de;q=0.8, fr;q=0.8")), Lang::De);
        // q=0 means "not acceptable".
        assert_eq!(negotiate(None, Some("nl;q=0, fr;q=0.2")), Lang::Fr);
        assert_eq!(negotiate(None, Some("nl;q=0")), Lang::En);
    }

    #[test]
    fn junk_falls_back_to_english() {
        assert_eq!(negotiate(None, None), Lang::En);
        assert_eq!(negotiate(None, Some("")), Lang::En);
        assert_eq!(negotiate(None, Some(";;,q=,de;q=abc")), Lang::En);
        assert_eq!(negotiate(None, Some("xx-YY")), Lang::En);
    }

    #[test]
    fn every_language_has_every_reason() {
        for lang in Lang::ALL {
            let codes: Vec<_> = lang.reasons().iter().map(|(c, _)| *c).collect();
            assert_eq!(codes, REASON_CODES, "{lang:?}");
            for (code, msg) in lang.reasons() {
                assert!(!msg.trim().is_empty(), "{lang:?} {code}");
            }
        }
    }

    #[test]
    fn every_language_has_every_string() {
        // The struct makes every key present; check that none is empty and that the
        // translations are translations, not copies of the English text.
        for lang in Lang::ALL {
            let s = lang.strings();
            let page = format!("{s:?}");
            assert!(!page.contains("\"\""), "{lang:?} has an empty string");
            let ui = serde_json::to_value(&s.ui).unwrap();
            for (key, value) in ui.as_object().unwrap() {
                assert!(!value.as_str().unwrap().is_empty(), "{lang:?} ui.{key}");
            }
            if lang != Lang::En {
                assert_ne!(s.terms_body, EN.terms_body, "{lang:?}");
                assert_ne!(s.ui.review_body, EN.ui.review_body, "{lang:?}");
                assert_ne!(lang.reasons()[1].1, REASONS_EN[1].1, "{lang:?}");
            }
        }
        assert!(EN.ui.attempts_left.contains("{n}"));
    }

    #[test]
    fn messages_json_carries_reasons_and_ui() {
        let v: serde_json::Value = serde_json::from_str(&client_messages_json(Lang::De)).unwrap();
        assert_eq!(v["lang"], "de");
        assert_eq!(v["reasons"].as_object().unwrap().len(), REASON_CODES.len());
        assert_eq!(v["reasons"]["IMAGE_BLURRY"], REASONS_DE[1].1);
        assert_eq!(v["ui"]["verified_title"], DE.ui.verified_title);
        assert_eq!(reason_message(Lang::Fr, "NO_SUCH_CODE"), REASONS_FR[19].1);
    }

    #[test]
    fn labels_cover_the_known_fields_and_documents() {
        for f in crate::domain::FormField::ALL {
            assert!(EN.field_label(f.as_str()).is_some(), "{f:?}");
        }
        for d in crate::domain::DocumentType::ALL {
            assert!(NL.document_label(d.as_str()).is_some(), "{d:?}");
        }
        assert!(EN.field_label("shoe_size").is_none());
    }
}
