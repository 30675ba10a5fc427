package main

// The SOAP handler in front of the simulator's: it keeps pyvmomi connections
// alive (Fetch), and gives the vCenter behaviours of vcenter.go and network.go
// and the fault injection of faults.go the requests they act on.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"io/ioutil"
	"net/http"
	"net/http/httptest"
	"regexp"

	"github.com/vmware/govmomi/vim25/types"
)

// soapCall is the part of a SOAP request the lab looks at.
type soapCall struct {
	Method string
	This   types.ManagedObjectReference
	// CloneVM_Task: the destination; CreateVM_Task: This is the folder, Name the new VM's.
	Folder      types.ManagedObjectReference
	Name        string
	ExtraConfig map[string]string // of the clone spec or config spec
}

type xmlRef struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type xmlOption struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xmlEnvelope struct {
	Body struct {
		Call struct {
			XMLName xml.Name
			This    xmlRef `xml:"_this"`
			Folder  xmlRef `xml:"folder"`
			Name    string `xml:"name"`
			Spec    struct {
				Config struct {
					ExtraConfig []xmlOption `xml:"extraConfig"`
				} `xml:"config"`
			} `xml:"spec"`
			Config struct {
				Name        string      `xml:"name"`
				ExtraConfig []xmlOption `xml:"extraConfig"`
			} `xml:"config"`
		} `xml:",any"`
	} `xml:"Body"`
}

func parseCall(body []byte) (call soapCall) {
	var env xmlEnvelope
	if xml.Unmarshal(body, &env) != nil {
		return call
	}
	c := env.Body.Call
	call.Method = c.XMLName.Local
	call.This = types.ManagedObjectReference{Type: c.This.Type, Value: c.This.Value}
	call.Folder = types.ManagedObjectReference{Type: c.Folder.Type, Value: c.Folder.Value}
	call.Name = c.Name
	options := c.Spec.Config.ExtraConfig
	if call.Method == "CreateVM_Task" {
		call.Folder, call.Name, options = call.This, c.Config.Name, c.Config.ExtraConfig
	}
	call.ExtraConfig = map[string]string{}
	for _, o := range options {
		call.ExtraConfig[o.Key] = o.Value
	}
	return call
}

// labHandler wraps the simulator's handler. A call the lab answers itself (a
// stalled task, a duplicate name) never reaches the simulator; a call with an
// after-effect is answered only once that effect is in place, so that a client
// never sees the state in between.
func labHandler(orig http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serviceVersions(w, r) {
			return
		}
		var body []byte
		if r.Method == http.MethodPost {
			body, _ = ioutil.ReadAll(r.Body)
			r.Body = ioutil.NopCloser(bytes.NewReader(body))
		}
		call := parseCall(body)
		defer lockNewName(call)()
		if task, ok := stalledTask(call); ok {
			writeTaskResponse(w, call.Method, task)
			return
		}
		if task, ok := duplicateName(call); ok {
			writeTaskResponse(w, call.Method, task)
			return
		}
		if task, ok := reconfigureDVPortgroup(call, body); ok {
			writeTaskResponse(w, call.Method, task)
			return
		}
		after := beforeCall(call)
		if after == nil {
			serveFetchSafe(orig, w, r, body)
			return
		}
		rec := httptest.NewRecorder()
		serveFetchSafe(orig, rec, r, body)
		after()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// beforeCall runs what must happen before the simulator acts and returns what
// must happen after (nil: nothing).
func beforeCall(call soapCall) func() {
	switch call.Method {
	case "CreateVM_Task", "CloneVM_Task":
		return fillDiskCapacities
	case "ReconfigVM_Task":
		return func() {
			fillDiskCapacities()
			replaceExtraConfig(call.This)
		}
	case "PowerOnVM_Task":
		return customizationAtBoot(call)
	case "PowerOffVM_Task":
		hardPowerOff(call)
	}
	return nil
}

// serveFetchSafe: pyvmomi reads managed-object properties with the undocumented
// Fetch method. For an unset property (vm.snapshot, vm.parentVApp, ...) the
// simulator's Fetch indexes an empty MissingSet and panics; net/http then drops
// the connection ("Remote end closed connection without response"). vCenter
// answers with an empty result, so we do too.
func serveFetchSafe(orig http.Handler, w http.ResponseWriter, r *http.Request, body []byte) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if !fetchRequest.Match(body) {
			panic(p)
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, soapEnvelope(`<FetchResponse xmlns="urn:vim25"></FetchResponse>`))
	}()
	orig.ServeHTTP(w, r)
}

var fetchRequest = regexp.MustCompile(`<([A-Za-z0-9_]+:)?Fetch[\s>]`)

func soapEnvelope(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>` +
		body + `</soapenv:Body></soapenv:Envelope>`
}

// writeTaskResponse answers a *_Task method with the task the lab made for it.
func writeTaskResponse(w http.ResponseWriter, method string, task types.ManagedObjectReference) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, soapEnvelope(fmt.Sprintf(
		`<%sResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></%sResponse>`, method, task.Value, method)))
}
